/**
 * The MySQL/MariaDB side of the benchmark: the phases' calls (BenchDb), the write load's
 * statements, the closing commit, and the seed's finish.
 *
 * The closing commit: MariaDB's binlog event headers carry commit times in whole seconds, so the
 * tick waits until the server's clock is past E's second. A tick in E's own second could be taken
 * as committed at or before E — it would not prove E, and `restore --at E` would replay it. The
 * catch-up figure therefore includes up to one second of that wait.
 *
 * The load: NOW(6) differs from every stored value, so every matched row is changed and logged:
 * the affected row count is the exact number of row changes the binlog holds.
 *
 * The seed's finish: the tick table (in the CRM database itself, so the stream of that database
 * sees it; left out of every checksum), ANALYZE (exact sizes), every dirty page flushed (the
 * CHECKPOINT of PostgreSQL's bench), and the seed's binary logs purged: they hold a gigabyte
 * nobody will read, since the stream starts later.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { mysqlTableChecksums, type TableChecksum } from '../../scripts/crm/index.js';
import type { BenchDb } from './bench-db.js';
import { CONTACT_ID_RANGE_SQL, idRangeOf, runUpdateLoad, type LoadDb, type LoadOptions, type LoadResult } from './load.js';
import { myCreateDb, myDbSize, myDropDb, myFlushDirtyPages, myQuery, myServerNow, quoteId, TICK_TABLE, type MyDbSize } from './mysql.js';
import { fmtBytes } from './report.js';
import { seedWithProgress, type SeedDb, type SeedFigures } from './seed.js';
import { say } from './steps.js';

const POLL_MS = 20;
const FLUSH_TIMEOUT_MS = 300_000;

/** Per-table checksums of the CRM tables, the bench's tick table left out. */
export function crmChecksums(url: string): Promise<Record<string, TableChecksum>> {
  return mysqlTableChecksums(url, { exclude: [TICK_TABLE] });
}

/** Commits one row into the tick table once the server's clock is in a later second than `e`; returns the clock after it. */
export async function tickAfter(url: string, e: string): Promise<string> {
  const second = e.slice(0, 19);
  while ((await myServerNow(url)).slice(0, 19) <= second) await sleep(POLL_MS); // polls the server's clock
  await myQuery(url, `INSERT INTO ${quoteId(TICK_TABLE)} () VALUES ()`);
  return myServerNow(url);
}

const mysqlLoad: LoadDb = {
  idRange: async (url) => idRangeOf((await myQuery<Record<string, unknown>>(url, CONTACT_ID_RANGE_SQL))[0]),
  async session(url) {
    const c = await mysql.createConnection({ uri: url });
    try {
      await c.query(`SET time_zone = '+00:00'`);
    } catch (err) {
      await c.end();
      throw err;
    }
    return {
      touch: async (from, to) => {
        const [r] = await c.query('UPDATE contacts SET updated_at = NOW(6) WHERE id BETWEEN ? AND ?', [from, to]);
        return (r as mysql.ResultSetHeader).affectedRows;
      },
      close: () => c.end(),
    };
  },
};

export function runMysqlUpdateLoad(url: string, opts: LoadOptions): Promise<LoadResult> {
  return runUpdateLoad(mysqlLoad, url, opts);
}

export const mysqlDb: BenchDb = {
  createDb: myCreateDb,
  dropDb: myDropDb,
  serverNow: myServerNow,
  checksums: crmChecksums,
  updateLoad: runMysqlUpdateLoad,
  closingCommit: tickAfter,
};

const mysqlSeed: SeedDb<MyDbSize> = {
  heartbeat: async (url, table, elapsed) => {
    const s = await myDbSize(url);
    return `${table ? `seeding ${table}` : 'finishing'}, ${elapsed()}, about ${fmtBytes(s.data + s.indexes)} so far`;
  },
  async finish(url, rows, elapsed) {
    await myQuery(url, `CREATE TABLE ${quoteId(TICK_TABLE)} (id BIGINT AUTO_INCREMENT PRIMARY KEY, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`);
    say(`   ANALYZE TABLE, flushing dirty pages, purging the seed's binlogs (${elapsed()})`);
    const size = await myDbSize(url, true);
    const dirty = await myFlushDirtyPages(url, FLUSH_TIMEOUT_MS);
    if (dirty >= 100) say(`   ${dirty} dirty pages still unflushed after ${FLUSH_TIMEOUT_MS / 1000} s; going on`);
    await myQuery(url, 'FLUSH BINARY LOGS');
    await myQuery(url, 'PURGE BINARY LOGS BEFORE NOW(6)');
    say(`   ${rows.toLocaleString('en-US')} rows; table data ${fmtBytes(size.data)} (${fmtBytes(size.data + size.indexes)} with secondary indexes)`);
    return size;
  },
};

export function seedMysqlWithProgress(url: string, scale: number, seed: number): Promise<SeedFigures<MyDbSize>> {
  return seedWithProgress(mysqlSeed, url, scale, seed);
}
