/**
 * Seeds the reference CRM with progress: at the benchmark's scale seeding takes minutes, so a line
 * per table and a heartbeat with the size so far show that it is moving. Then the database's own
 * finish (SeedDb.finish: the bench's tick table, statistics, the seed's dirty pages written), so
 * that neither the native dump nor crm-backup pays for work the seed left behind — whichever read
 * the tables first would otherwise be slower for reasons not its own.
 */
import { CRM_TABLES, seedCrm } from '../../scripts/crm/index.js';
import { say } from './steps.js';

export interface SeedFigures<Size> {
  readonly seconds: number;
  readonly rows: number;
  readonly size: Size;
}

/** What seeding needs of a database (postgres-db.ts, mysql-db.ts, mongodb-db.ts). */
export interface SeedDb<Size> {
  /** Fills the empty database with the CRM; seedCrm (knex migrations and INSERTs) when not given (MongoDB has its own). */
  fill?(url: string, opts: FillOptions): Promise<{ readonly rows: Readonly<Record<string, number>> }>;
  /** The tables `fill` fills, in its order, for the heartbeat (default: the reference CRM's). */
  readonly tables?: readonly string[];
  /** The heartbeat's line: `table` is the one being seeded (undefined after the last), `elapsed` the time so far. */
  heartbeat(url: string, table: string | undefined, elapsed: () => string): Promise<string>;
  /** After the tables are filled: the tick table, statistics, flushing; says the sizes and returns them. */
  finish(url: string, rows: number, elapsed: () => string): Promise<Size>;
}

/** What seedWithProgress asks of a fill (seedCrm, seedShapes, seedMongoCrm). */
export interface FillOptions {
  readonly scale: number;
  readonly seed: number;
  readonly onProgress: (table: string, rows: number) => void;
}

const HEARTBEAT_MS = 15_000;

export async function seedWithProgress<Size>(db: SeedDb<Size>, url: string, scale: number, seed: number): Promise<SeedFigures<Size>> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  let done = 0;
  const heartbeat = setInterval(() => {
    db.heartbeat(url, (db.tables ?? CRM_TABLES)[done], elapsed).then(
      (line) => say(`   … ${line}`),
      () => undefined, // a missed heartbeat is not worth failing the seed
    );
  }, HEARTBEAT_MS);
  try {
    const result = await (db.fill ?? seedCrm)(url, {
      scale,
      seed,
      onProgress: (table, rows) => {
        done++;
        say(`   ${table}: ${rows.toLocaleString('en-US')} rows (${elapsed()})`);
      },
    });
    const rows = Object.values(result.rows).reduce((a, b) => a + b, 0);
    const size = await db.finish(url, rows, elapsed);
    return { seconds: (performance.now() - started) / 1000, rows, size };
  } finally {
    clearInterval(heartbeat);
  }
}
