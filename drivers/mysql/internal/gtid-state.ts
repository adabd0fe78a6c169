/**
 * The GTID state a position carries (internal/position.ts): what the server had executed at that
 * point. MariaDB: the last GTID of each replication domain, `0-1-57,1-2-9`. MySQL: a GTID set,
 * `uuid:1-57:60,uuid2:1-3`. Kept up to date from the GTID_LIST / PREVIOUS_GTIDS event at the start
 * of each binlog file and from every transaction's GTID event.
 */
export class GtidState {
  /** MariaDB: domain -> `domain-server-seq`. */
  private readonly domains = new Map<string, string>();
  /** MySQL: source uuid (and tag) -> sorted, merged [first, last] intervals. */
  private readonly sets = new Map<string, Array<[bigint, bigint]>>();

  constructor(initial?: string) {
    if (initial) this.reset(initial);
  }

  /** Replaces the state with a GTID_LIST / PREVIOUS_GTIDS list, or a stored position's. */
  reset(list: string): void {
    this.domains.clear();
    this.sets.clear();
    for (const item of list
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (/^\d+-\d+-\d+$/.test(item)) {
        this.domains.set(item.slice(0, item.indexOf('-')), item);
        continue;
      }
      const parts = item.split(':');
      const ranges = parts.filter((p) => /^\d+(-\d+)?$/.test(p));
      const source = parts.filter((p) => !/^\d+(-\d+)?$/.test(p)).join(':');
      for (const r of ranges) {
        const [a, b] = r.split('-');
        this.addRange(source, BigInt(a!), BigInt(b ?? a!));
      }
    }
  }

  /** A transaction's GTID: MariaDB `d-s-n`, MySQL `uuid:n` or `uuid:tag:n`. Empty: anonymous. */
  add(gtid: string): void {
    if (!gtid) return;
    if (/^\d+-\d+-\d+$/.test(gtid)) {
      this.domains.set(gtid.slice(0, gtid.indexOf('-')), gtid);
      return;
    }
    const cut = gtid.lastIndexOf(':');
    if (cut < 0) return;
    const n = BigInt(gtid.slice(cut + 1));
    this.addRange(gtid.slice(0, cut), n, n);
  }

  private addRange(source: string, a: bigint, b: bigint): void {
    const list = this.sets.get(source) ?? [];
    list.push([a, b]);
    list.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    const merged: Array<[bigint, bigint]> = [];
    for (const r of list) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1] + 1n) {
        if (r[1] > last[1]) last[1] = r[1];
      } else merged.push([r[0], r[1]]);
    }
    this.sets.set(source, merged);
  }

  toString(): string {
    const maria = [...this.domains.values()].sort(
      (a, b) => Number(a.split('-')[0]) - Number(b.split('-')[0]),
    );
    const mysql = [...this.sets.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([s, rs]) => `${s}:${rs.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(':')}`);
    return [...maria, ...mysql].join(',');
  }
}
