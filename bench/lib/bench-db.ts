/**
 * What the benchmark's phases need of a database. The steps — snapshot, restore, the stream under
 * load, restore --at — are the same on every database (snapshot-phase.ts, stream-phase.ts,
 * pitr-phase.ts); these calls are not. One implementation per database: postgres-db.ts, mysql-db.ts, mongodb-db.ts.
 */
import type { TableChecksum } from '../../scripts/crm/index.js';
import type { LoadOptions, LoadResult } from './load.js';

export interface BenchDb {
  /** A new, empty database `db` on the server of `serverUrl`; returns its URL. */
  createDb(serverUrl: string, db: string): Promise<string>;
  /** Drops a restored copy once it is judged, so a 1 GB run does not hold four copies at once. */
  dropDb(serverUrl: string, db: string): Promise<void>;
  /** The server's clock as ISO 8601 UTC with microseconds, the form `restore --at` and `list` use. */
  serverNow(url: string): Promise<string>;
  /** Per-table checksums of the CRM's tables, the bench's tick table left out. */
  checksums(url: string): Promise<Record<string, TableChecksum>>;
  /** The stream's write load (load.ts). */
  updateLoad(url: string, opts: LoadOptions): Promise<LoadResult>;
  /**
   * Commits one row into the bench's tick table after E (`e`): a commit at c proves every
   * instant before c, so once it is stored the log covers E. Returns the server's clock after it
   * when the commit had to wait to land after E (MariaDB: for E's whole second to pass).
   */
  closingCommit(url: string, e: string): Promise<string | undefined>;
}

/** Runs `fn` on a new database `name`, dropped afterwards whatever happens. */
export async function inFreshDb<T>(db: BenchDb, serverUrl: string, name: string, fn: (url: string) => Promise<T>): Promise<T> {
  const url = await db.createDb(serverUrl, name);
  try {
    return await fn(url);
  } finally {
    await db.dropDb(serverUrl, name);
  }
}
