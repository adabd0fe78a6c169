/**
 * Seeds the reference CRM with progress: at scale 22 seeding takes minutes, so a line per table
 * and a heartbeat with the database size show that it is moving. Afterwards VACUUM ANALYZE and a
 * CHECKPOINT, so that neither pg_dump nor crm-backup pays for hint bits or a checkpoint the seed
 * left behind — whichever read the tables first would otherwise be slower for reasons not its own.
 */
import { CRM_TABLES, seedCrm } from '../../scripts/crm/index.js';
import { dbSize, query, type DbSize } from './pg.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';

export interface SeedFigures {
  readonly seconds: number;
  readonly rows: number;
  readonly size: DbSize;
}

const HEARTBEAT_MS = 15_000;

export async function seedWithProgress(url: string, scale: number, seed: number): Promise<SeedFigures> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  let done = 0;
  const heartbeat = setInterval(() => {
    dbSize(url).then(
      (s) => say(`   … seeding ${CRM_TABLES[done] ?? ''}, ${elapsed()}, database ${fmtBytes(s.database)} so far`),
      () => undefined, // a missed heartbeat is not worth failing the seed
    );
  }, HEARTBEAT_MS);
  try {
    const result = await seedCrm(url, {
      scale,
      seed,
      onProgress: (table, rows) => {
        done++;
        say(`   ${table}: ${rows.toLocaleString('en-US')} rows (${elapsed()})`);
      },
    });
    // the closing commit after the load's end goes here (see stream-phase.ts)
    await query(url, 'CREATE SCHEMA crmb_bench; CREATE TABLE crmb_bench.tick (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    say(`   VACUUM ANALYZE and CHECKPOINT (${elapsed()})`);
    await query(url, 'VACUUM ANALYZE');
    await query(url, 'CHECKPOINT');
    const size = await dbSize(url);
    const rows = Object.values(result.rows).reduce((a, b) => a + b, 0);
    say(
      `   ${rows.toLocaleString('en-US')} rows; database ${fmtBytes(size.database)}, tables ${fmtBytes(size.tables)} ` +
        `(${fmtBytes(size.tablesWithIndexes)} with indexes)`,
    );
    return { seconds: (performance.now() - started) / 1000, rows, size };
  } finally {
    clearInterval(heartbeat);
  }
}
