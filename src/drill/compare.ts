/**
 * What a drill compares: the per-table checksums the snapshot stored (summed over the parts of
 * a split table) against the same checksums of the restored database, read back through the
 * driver's own snapshot reader, so both sides are the rows in the form the driver dumps them.
 * Pure once the restored side is read: checksumsOf does the reading.
 */
import type { DriverModule } from '../driver/driver-module.js';
import type { SnapshotManifest } from '../repository/repository-api.js';
import {
  ChecksumSum,
  hashedAsItPasses,
  rowHasher,
  sameChecksum,
  type RowChecksum,
} from '../backup/row-checksum.js';
import type { TableStream } from '../driver/source-driver.js';
import { throwIfAborted } from '../util/errors.js';

export interface Expected {
  /** Tables with a checksum for every stream, by their name in the snapshot. */
  readonly tables: ReadonlyMap<string, RowChecksum>;
  /** Tables restored that cannot be compared, each with why. */
  readonly notComparable: ReadonlyMap<string, string>;
}

/** The snapshot's per-table totals; what has no checksum, or was changed by a stream that is not rows, is not comparable. */
export function expectedChecksums(driver: DriverModule, snap: SnapshotManifest): Expected {
  const sums = new Map<string, ChecksumSum>();
  const missing = new Set<string>();
  let changedAfterRead = false;
  for (const s of snap.streams) {
    if (driver.tableNames.partOfEverySelection?.(s.table)) {
      // a stream applied on top of the tables (MongoDB's change tail): when it holds anything,
      // the restored tables differ from the rows the snapshot read, by changes it does not name
      if (s.data.bytes > 0) changedAfterRead = true;
      continue;
    }
    if (!s.checksum) {
      missing.add(s.table);
      continue;
    }
    let sum = sums.get(s.table);
    if (!sum) sums.set(s.table, (sum = new ChecksumSum()));
    sum.addChecksum(s.checksum);
  }
  const notComparable = new Map<string, string>();
  const tables = new Map<string, RowChecksum>();
  for (const t of missing) notComparable.set(t, 'the snapshot stored no checksum for it');
  for (const [t, sum] of sums) {
    if (missing.has(t)) continue;
    if (changedAfterRead) notComparable.set(t, 'changed while the snapshot was read (its change tail)');
    else tables.set(t, sum.result());
  }
  return { tables, notComparable };
}

/**
 * The checksum of every table of the database `url` reaches, read by the driver's snapshot
 * reader with `jobs` sessions, keyed by the table names that reader writes.
 */
export async function checksumsOf(
  driver: DriverModule,
  url: string,
  opts: { jobs: number; signal?: AbortSignal },
): Promise<Map<string, RowChecksum>> {
  const source = await driver.openSource(url, { name: 'crm-backup-drill' });
  try {
    const reader = await source.openSnapshot({ jobs: opts.jobs, signal: opts.signal });
    try {
      const sums = new Map<string, ChecksumSum>();
      // pulled one at a time, as the snapshot job does: a reader may yield a stream only once
      // the ones before it were read (MongoDB's change tail comes last)
      const it = reader.streams()[Symbol.asyncIterator]();
      let pulling: Promise<unknown> = Promise.resolve();
      const pull = (): Promise<IteratorResult<TableStream>> => {
        const p = pulling.then(() => it.next());
        pulling = p.catch(() => undefined);
        return p;
      };
      const worker = async (): Promise<void> => {
        for (let r = await pull(); !r.done; r = await pull()) {
          throwIfAborted(opts.signal);
          const s = r.value;
          const how = s.rowChecksum ? undefined : driver.rowFraming?.(s.format);
          const hasher = how ? rowHasher(how) : undefined;
          for await (const piece of hasher ? hashedAsItPasses(s.data, hasher) : s.data) void piece;
          const checksum = s.rowChecksum?.() ?? hasher?.end();
          if (!checksum) continue;
          let sum = sums.get(s.table);
          if (!sum) sums.set(s.table, (sum = new ChecksumSum()));
          sum.addChecksum(checksum);
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, worker));
      } catch (err) {
        await it.return?.().catch(() => {});
        throw err;
      }
      return new Map([...sums].map(([t, s]) => [t, s.result()]));
    } finally {
      await reader.close();
    }
  } finally {
    await source.close().catch(() => {});
  }
}

export interface Comparison {
  readonly compared: readonly string[];
  /** `table: why`, sorted. */
  readonly notCompared: readonly string[];
  /** The first table that differs, in name order, with what was expected and found. */
  readonly mismatch?: { readonly table: string; readonly expected: RowChecksum; readonly found: RowChecksum };
}

/**
 * Compares the tables the log did not change (`touched`: the tables replayed transactions
 * changed; null: any may have been). `restoredName` maps a snapshot table to its name in the
 * restored database.
 */
export function compareTables(
  expected: Expected,
  restored: ReadonlyMap<string, RowChecksum>,
  touched: readonly string[] | null,
  restoredName: (table: string) => string,
): Comparison {
  const compared: string[] = [];
  const notCompared = [...expected.notComparable].map(([t, why]) => `${t}: ${why}`);
  let mismatch: Comparison['mismatch'];
  const changed = touched === null ? undefined : new Set(touched);
  for (const [table, want] of [...expected.tables].sort(([a], [b]) => a.localeCompare(b))) {
    if (!changed || changed.has(table)) {
      notCompared.push(`${table}: changed by the log (loaded, not compared)`);
      continue;
    }
    const found = restored.get(restoredName(table)) ?? { rows: 0, sum: '0'.repeat(32) };
    compared.push(table);
    if (!mismatch && !sameChecksum(want, found)) mismatch = { table, expected: want, found };
  }
  return { compared, notCompared: notCompared.sort(), mismatch };
}

/** One sentence for a table whose restored rows differ from the snapshot's. */
export function mismatchSentence(snapshot: string, m: NonNullable<Comparison['mismatch']>): string {
  const what =
    m.expected.rows !== m.found.rows
      ? `expected ${m.expected.rows} rows, found ${m.found.rows}`
      : `expected ${m.expected.rows} rows with checksum ${m.expected.sum}, found ${m.found.rows} rows with checksum ${m.found.sum}`;
  return `Table ${m.table} restored from snapshot ${snapshot.slice(0, 12)} does not match the checksum the snapshot stored: ${what}.`;
}
