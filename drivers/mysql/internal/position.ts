/**
 * A MySQL/MariaDB change-log position: a place in the server's binlog sequence, as
 * `<file>:<offset>` with an optional GTID state after `#`, e.g. `binlog.000012:1234` or
 * `binlog.000012:1234#0-1-57`.
 *
 * The offset is where the next transaction starts: the position of a snapshot is
 * binlog_snapshot_file/position (the end of the last transaction it holds), the position of a
 * stored transaction is the end of its commit event (XID or COMMIT), so "transactions after P"
 * is "transactions that start at or after P" and a stream resumes by asking the server for P.
 * The GTID state (MariaDB `domain-server-seq[,…]`, MySQL `uuid:1-57[,…]`) is what the server
 * had executed at that point, where GTIDs are on: it lets a stream resume by GTID and lets a
 * user name a transaction by its GTID. It plays no part in the order.
 *
 * Order: by the file's sequence number (the digits after the last dot: `binlog.000010` comes
 * after `binlog.000009`, and `binlog.1000000` after `binlog.999999`), then by offset. Not by
 * string: the repository never compares positions itself (src/driver/position-order.ts).
 */

export interface BinlogPosition {
  readonly file: string;
  readonly offset: number;
  readonly gtids?: string;
}

const POSITION = /^(.+)\.(\d+):(\d+)(?:#(.*))?$/;

export function parsePosition(position: string): BinlogPosition {
  const m = POSITION.exec(position);
  if (!m)
    throw new Error(`"${position}" is not a MySQL/MariaDB binlog position (expected binlog.000012:1234).`);
  const gtids = m[4];
  return { file: `${m[1]}.${m[2]}`, offset: Number(m[3]), ...(gtids ? { gtids } : {}) };
}

export function formatPosition(p: BinlogPosition): string {
  return `${p.file}:${p.offset}${p.gtids ? `#${p.gtids}` : ''}`;
}

/** The file's sequence number, e.g. 12 for `binlog.000012`. */
export function fileSequence(file: string): bigint {
  const m = /\.(\d+)$/.exec(file);
  if (!m?.[1]) throw new Error(`"${file}" is not a binlog file name (expected binlog.000012).`);
  return BigInt(m[1]);
}

export function comparePositions(a: string, b: string): number {
  const pa = parsePosition(a);
  const pb = parsePosition(b);
  const fa = fileSequence(pa.file);
  const fb = fileSequence(pb.file);
  if (fa !== fb) return fa < fb ? -1 : 1;
  return pa.offset === pb.offset ? 0 : pa.offset < pb.offset ? -1 : 1;
}
