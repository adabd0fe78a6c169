/**
 * Re-records the MariaDB binlogs under test/fixtures/mysql-binlogs/ that
 * test/unit/mysql/binlog-recorded.test.ts decodes without a server: the type workload of
 * test/fixtures/mysql-binlogs/workload.ts (its values under 64 KB) on two fresh MariaDB servers,
 *
 *   mariadb-10.11-full.000001            FULL row metadata, CRC32 checksums (the harness settings)
 *   mariadb-10.11-compressed-nolog.000001 log_bin_compress, no optional metadata, no checksums
 *   mariadb-10.11-hires-temporal.000001   MariaDB 5.3 fractional TIME/DATETIME/TIMESTAMP
 *                                         (mysql56_temporal_format=OFF)
 *
 * Usage: npx tsx scripts/record-mysql-binlogs.ts   (needs mariadbd, as the test harness does)
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { mysqlStartOwnServer } from '../test/harness/index.js';
import { binlogFilesFrom, fetchBinlogs, masterStatus } from '../test/fixtures/mysql-binlogs/fetch.js';
import { SESSION_SETUP, SMALL_TYPE_COLUMNS, TYPES_TABLE, createTypesTable, insertTypesRow } from '../test/fixtures/mysql-binlogs/workload.js';

const OUT = join(import.meta.dirname, '..', 'test', 'fixtures', 'mysql-binlogs');

const RECORDINGS = {
  full: { file: 'mariadb-10.11-full.000001', settings: {} },
  compressed: {
    file: 'mariadb-10.11-compressed-nolog.000001',
    settings: { 'log-bin-compress': 'ON', 'log-bin-compress-min-len': '10', 'binlog-row-metadata': 'NO_LOG', 'binlog-checksum': 'NONE' },
  },
  hires: { file: 'mariadb-10.11-hires-temporal.000001', settings: { 'mysql56-temporal-format': 'OFF' } },
} as const;

/** MariaDB 5.3 fractional temporals: the values test/unit/mysql/binlog-recorded.test.ts expects. */
const HIRES_TABLE =
  'CREATE TABLE h (t0 TIME, t3 TIME(3), t6 TIME(6), d0 DATETIME, d3 DATETIME(3), d6 DATETIME(6), s0 TIMESTAMP NULL, s3 TIMESTAMP(3) NULL, s6 TIMESTAMP(6) NULL)';
const HIRES_ROWS = [
  "INSERT INTO h VALUES ('-838:59:59', '-12:34:56.789', '838:59:58.999999', '0000-00-00 00:00:00', '2026-12-05 14:02:59.123', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', '1970-01-01 00:00:01.001', '2026-12-05 14:02:59.000001')",
  "INSERT INTO h VALUES ('00:00:00', '-00:00:00.001', '-838:59:59.000000', '1000-01-01 00:00:00', '0000-00-00 00:00:00.000', '2000-02-29 12:00:00.5', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '2026-12-05 14:02:59.999999')",
];

async function hiresWorkload(conn: mysql.Connection): Promise<void> {
  for (const s of SESSION_SETUP) await conn.query(s);
  await conn.query(HIRES_TABLE);
  for (const sql of HIRES_ROWS) await conn.query(sql);
}

/** The workload: three rows of every type, an update, a MINIMAL-image update, a delete, a DDL. */
async function workload(conn: mysql.Connection): Promise<void> {
  for (const s of SESSION_SETUP) await conn.query(s);
  await conn.query(createTypesTable(TYPES_TABLE, SMALL_TYPE_COLUMNS));
  for (const id of [1, 2, 3] as const) {
    const { sql, params } = insertTypesRow(id, TYPES_TABLE, SMALL_TYPE_COLUMNS);
    await conn.query(sql, params);
  }
  await conn.query(`UPDATE ${TYPES_TABLE} SET i = 7, vc = 'changed' WHERE id = 1`);
  await conn.query("SET SESSION binlog_row_image = 'MINIMAL'");
  await conn.query(`UPDATE ${TYPES_TABLE} SET iu = 1 WHERE id = 1`);
  await conn.query("SET SESSION binlog_row_image = 'FULL'");
  await conn.query(`DELETE FROM ${TYPES_TABLE} WHERE id = 2`);
  await conn.query(`ALTER TABLE ${TYPES_TABLE} ADD COLUMN extra INT NULL`);
}

async function record(name: string, settings: Readonly<Record<string, string>>, run: (c: mysql.Connection) => Promise<void>): Promise<void> {
  const server = await mysqlStartOwnServer({ settings });
  const dir = mkdtempSync(join(tmpdir(), 'crmb-record-'));
  try {
    const conn = await mysql.createConnection({ uri: server.url });
    try {
      const start = await masterStatus(conn);
      await run(conn);
      const [path] = await fetchBinlogs(server.url, (await binlogFilesFrom(conn, start.file)).slice(0, 1), dir);
      copyFileSync(path!, join(OUT, name));
      console.log(`recorded ${name}`);
    } finally {
      await conn.end();
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await record(RECORDINGS.full.file, RECORDINGS.full.settings, workload);
await record(RECORDINGS.compressed.file, RECORDINGS.compressed.settings, workload);
await record(RECORDINGS.hires.file, RECORDINGS.hires.settings, hiresWorkload);
