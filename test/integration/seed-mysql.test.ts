/**
 * The reference CRM seeded into MariaDB, as the MySQL benchmark does it, at a tiny scale:
 *  - `scripts/seed.ts` with a mysql:// URL (what a user runs) fills every table on the shared
 *    harness server, with values that round-trip exactly (µs timestamps, utf8mb4 JSON, decimals);
 *  - on a server of its own (the bench seed purges binlogs and mydumper takes a global read lock,
 *    neither welcome on the shared server): the bench's seed, then its native baselines —
 *    mariadb-dump | zstd into `mariadb`, mydumper into myloader — each restore equal to the source
 *    by the bench's checksums, and the checksums do tell a changed row apart.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, mysqlStartOwnServer, type TestDatabase, type ThrowawayServer } from '../harness/index.js';
import { rowCounts } from '../../scripts/crm/generate.js';
import { CRM_TABLES } from '../../migrations/knex-config.js';
import { myCreateDb, myQuery, TICK_TABLE } from '../../bench/lib/mysql.js';
import { crmChecksums, runMysqlUpdateLoad, seedMysqlWithProgress, tickAfter } from '../../bench/lib/mysql-db.js';
import { mariadbDumpZstd, mariadbLoad, missingTool, mydumperDump, myloaderLoad, unzstd } from '../../bench/lib/mysql-native.js';
import { compareChecksums } from '../../bench/lib/checksums.js';
import { myServerNow } from '../../bench/lib/mysql.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const SCALE = 0.02;

describe('scripts/seed.ts on MariaDB', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createMysqlDatabase('seed_mysql');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('fills every CRM table with the expected rows, values stored exactly', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'scripts/seed.ts', '--url', db.url, '--scale', String(SCALE), '--seed', '3'], { cwd: ROOT });
    const out = JSON.parse(stdout) as { rows: Record<string, number>; bytes: number };
    expect(out.rows).toEqual(rowCounts(SCALE));
    expect(out.bytes).toBeGreaterThan(0);
    for (const table of CRM_TABLES) {
      const [row] = await myQuery<{ n: number }>(db.url, `SELECT COUNT(*) AS n FROM \`${table}\``);
      expect({ table, rows: Number(row?.n) }).toEqual({ table, rows: rowCounts(SCALE)[table] });
    }
    // microseconds survive (the binlog and every dump must carry them), and so does non-ASCII JSON
    const [frac] = await myQuery<{ n: number }>(db.url, 'SELECT COUNT(*) AS n FROM contacts WHERE MICROSECOND(created_at) <> 0');
    expect(Number(frac?.n)).toBeGreaterThan(0);
    const [utf] = await myQuery<{ n: number }>(db.url, `SELECT COUNT(*) AS n FROM accounts WHERE custom_fields LIKE '%größe%'`);
    expect(Number(utf?.n)).toBeGreaterThan(0);
    const [dup] = await myQuery<{ n: number }>(db.url, 'SELECT COUNT(*) AS n FROM (SELECT message_id FROM email_events GROUP BY message_id HAVING COUNT(*) > 1) x');
    expect(Number(dup?.n)).toBeGreaterThan(0);
  });
});

describe('the MySQL benchmark seed and native baselines', () => {
  let server: ThrowawayServer;
  let work: string;
  let source: string;
  beforeAll(async () => {
    server = await mysqlStartOwnServer();
    work = mkdtempSync(join(tmpdir(), 'crmb-seed-mysql-'));
    source = await myCreateDb(server.url, 'crm');
  });
  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('seeds the CRM with its tick table and reports the table data', async () => {
    const seeded = await seedMysqlWithProgress(source, SCALE, 1);
    expect(seeded.rows).toBe(Object.values(rowCounts(SCALE)).reduce((a, b) => a + b, 0));
    expect(seeded.size.data).toBeGreaterThan(0);
    const [tick] = await myQuery<{ n: number }>(source, `SELECT COUNT(*) AS n FROM \`${TICK_TABLE}\``);
    expect(Number(tick?.n)).toBe(0);
  });

  it('restores a mariadb-dump | zstd file through mariadb equal to the source, and the checksums see one changed value', async () => {
    const expected = await crmChecksums(source);
    expect(Object.keys(expected).sort()).toEqual([...CRM_TABLES, 'knex_migrations', 'knex_migrations_lock'].sort());
    const dump = await mariadbDumpZstd(source, join(work, 'crm.sql.zst'));
    expect(dump.bytes).toBeGreaterThan(0);
    const sqlBytes = await unzstd(join(work, 'crm.sql.zst'), join(work, 'crm.sql'));
    expect(sqlBytes).toBeGreaterThan(dump.bytes);
    const target = await myCreateDb(server.url, 'crm_native');
    await mariadbLoad(target, join(work, 'crm.sql'));
    expect(compareChecksums(expected, await crmChecksums(target))).toEqual({ equal: true, tables: Object.keys(expected).length, differing: [] });
    // one microsecond on one row must show
    await myQuery(target, 'UPDATE deals SET updated_at = updated_at + INTERVAL 1 MICROSECOND WHERE id = 1');
    const verdict = compareChecksums(expected, await crmChecksums(target));
    expect(verdict.equal).toBe(false);
    expect(verdict.differing).toEqual([`deals (${rowCounts(SCALE).deals} vs ${rowCounts(SCALE).deals} rows)`]);
  });

  it('restores a mydumper folder through myloader equal to the source', async (t) => {
    const missing = missingTool('mydumper') ?? missingTool('myloader');
    if (missing) {
      console.warn(`SKIPPED: ${missing}`);
      t.skip();
    }
    const dir = join(work, 'mydumper');
    const dump = await mydumperDump(source, dir, 2);
    expect(dump.bytes).toBeGreaterThan(0);
    const target = await myCreateDb(server.url, 'crm_loader');
    await myloaderLoad(target, dir, 2);
    const expected = await crmChecksums(source);
    expect(compareChecksums(expected, await crmChecksums(target))).toEqual({ equal: true, tables: Object.keys(expected).length, differing: [] });
  });

  it('runs the stream load as counted row changes, and commits the tick in a later second than E', async () => {
    const before = await myServerNow(source);
    const load = await runMysqlUpdateLoad(source, { rate: 1000, seconds: 1, connections: 2 });
    expect(load.statements).toBeGreaterThan(0);
    // whole 100-id ranges of contiguous ids: every statement changes exactly 100 rows
    expect(load.changes).toBe(load.statements * 100);
    const [touched] = await myQuery<{ n: number }>(source, 'SELECT COUNT(*) AS n FROM contacts WHERE updated_at >= ?', [before.replace('T', ' ').replace('Z', '')]);
    expect(Number(touched?.n)).toBeGreaterThanOrEqual(100);
    expect(Number(touched?.n)).toBeLessThanOrEqual(load.changes);
    const e = await myServerNow(source);
    await tickAfter(source, e);
    const ticks = await myQuery<{ at: string }>(source, `SELECT DATE_FORMAT(at, '%Y-%m-%dT%H:%i:%s') AS at FROM \`${TICK_TABLE}\``);
    expect(ticks).toHaveLength(1);
    expect(ticks[0]!.at > e.slice(0, 19)).toBe(true);
  });
});
