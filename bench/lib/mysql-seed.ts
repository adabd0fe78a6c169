/**
 * Seeds the reference CRM into MariaDB with progress, as seed.ts does on PostgreSQL: a line per
 * table and a heartbeat. Afterwards the bench's tick table (see mysql-stream-phase.ts), ANALYZE
 * (exact sizes), every dirty page flushed (the CHECKPOINT of PostgreSQL's bench), and the seed's
 * binary logs purged: they hold a gigabyte nobody will read, since the stream starts later.
 */
import { CRM_TABLES, seedCrm } from '../../scripts/crm/index.js';
import { myDbSize, myFlushDirtyPages, myQuery, quoteId, TICK_TABLE, type MyDbSize } from './mysql.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';

export interface MySeedFigures {
  readonly seconds: number;
  readonly rows: number;
  readonly size: MyDbSize;
}

const HEARTBEAT_MS = 15_000;
const FLUSH_TIMEOUT_MS = 300_000;

export async function seedMysqlWithProgress(url: string, scale: number, seed: number): Promise<MySeedFigures> {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  let done = 0;
  const heartbeat = setInterval(() => {
    myDbSize(url).then(
      (s) => say(`   … ${CRM_TABLES[done] ? `seeding ${CRM_TABLES[done]}` : 'finishing'}, ${elapsed()}, about ${fmtBytes(s.data + s.indexes)} so far`),
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
    // the closing commit after the load's end goes here; in the CRM database itself, so that the
    // stream of that database sees it, and left out of every checksum
    await myQuery(url, `CREATE TABLE ${quoteId(TICK_TABLE)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`);
    say(`   ANALYZE TABLE, flushing dirty pages, purging the seed's binlogs (${elapsed()})`);
    const size = await myDbSize(url, true);
    const dirty = await myFlushDirtyPages(url, FLUSH_TIMEOUT_MS);
    if (dirty >= 100) say(`   ${dirty} dirty pages still unflushed after ${FLUSH_TIMEOUT_MS / 1000} s; going on`);
    await myQuery(url, 'FLUSH BINARY LOGS');
    await myQuery(url, 'PURGE BINARY LOGS BEFORE NOW(6)');
    const rows = Object.values(result.rows).reduce((a, b) => a + b, 0);
    say(`   ${rows.toLocaleString('en-US')} rows; table data ${fmtBytes(size.data)} (${fmtBytes(size.data + size.indexes)} with secondary indexes)`);
    return { seconds: (performance.now() - started) / 1000, rows, size };
  } finally {
    clearInterval(heartbeat);
  }
}
