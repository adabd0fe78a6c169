/**
 * The stream's write load: `UPDATE contacts SET updated_at = <the server's clock>` over 100-id
 * ranges, paced to a target of row changes per second across several connections. Plain
 * multi-row UPDATEs make the change count exact (the affected row count) and easy to compare with
 * the restore's replay summary. Each connection owns its own slice of ids: two statements never
 * touch the same rows, so there are no lock waits or deadlocks to distort the rate. The
 * statements themselves come from the database's LoadDb (postgres-db.ts, mysql-db.ts, mongodb-db.ts).
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface LoadOptions {
  /** Row changes per second to aim for (all connections together). */
  readonly rate: number;
  readonly seconds: number;
  readonly connections: number;
  /** Rows per UPDATE statement (each its own transaction). */
  readonly rowsPerStatement?: number;
}

export interface LoadResult {
  readonly changes: number;
  readonly statements: number;
  readonly seconds: number;
  readonly changesPerSecond: number;
}

/** One connection of the load. */
export interface LoadSession {
  /** Sets `updated_at` of the contacts with ids in [from, to] to the server's clock, in a transaction of its own; returns the rows changed. */
  touch(from: number, to: number): Promise<number>;
  close(): Promise<void>;
}

/** What the load needs of a database. */
export interface LoadDb {
  /** The lowest and highest id of contacts (hi < lo when it is empty). */
  idRange(url: string): Promise<{ lo: number; hi: number }>;
  /** A connection of its own, for one of the load's workers. */
  session(url: string): Promise<LoadSession>;
}

/** The id range query of the SQL databases, and its row read as idRange's answer. */
export const CONTACT_ID_RANGE_SQL = 'SELECT min(id) AS lo, max(id) AS hi FROM contacts';
export const idRangeOf = (row: Record<string, unknown> | undefined): { lo: number; hi: number } => ({ lo: Number(row?.lo ?? 0), hi: Number(row?.hi ?? -1) });

export async function runUpdateLoad(db: LoadDb, url: string, opts: LoadOptions): Promise<LoadResult> {
  const width = opts.rowsPerStatement ?? 100;
  const { lo, hi } = await db.idRange(url);
  if (hi - lo + 1 < width) throw new Error(`contacts has ${hi - lo + 1} rows; the load needs at least ${width}.`);
  const connections = Math.max(1, Math.min(opts.connections, Math.floor((hi - lo + 1) / width)));
  const slice = Math.floor((hi - lo + 1) / connections);
  // statement k of the whole load is due at k * interval; each connection takes every n-th slot
  const intervalMs = (1000 * width) / opts.rate;
  const started = performance.now();
  const endAt = started + opts.seconds * 1000;
  let changes = 0;
  let statements = 0;

  const worker = async (n: number): Promise<void> => {
    const session = await db.session(url);
    try {
      const first = lo + n * slice;
      const last = first + slice - width; // highest start id that keeps the range in the slice
      for (let k = n; ; k += connections) {
        const due = started + k * intervalMs;
        // a machine that cannot keep up stops on time too: the achieved rate is the figure
        if (due >= endAt || performance.now() >= endAt) break;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const from = first + Math.floor(Math.random() * (last - first + 1));
        changes += await session.touch(from, from + width - 1);
        statements++;
      }
    } finally {
      await session.close();
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, n) => worker(n)));
  const seconds = (performance.now() - started) / 1000;
  return { changes, statements, seconds, changesPerSecond: changes / seconds };
}
