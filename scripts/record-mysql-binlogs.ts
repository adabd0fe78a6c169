/**
 * Re-records the MariaDB binlogs under test/fixtures/mysql-binlogs/ that
 * test/unit/mysql/binlog-recorded.test.ts decodes without a server: the type workload of
 * test/fixtures/mysql-binlogs/workload.ts (its values under 64 KB) on two fresh MariaDB servers,
 *
 *   mariadb-10.11-full.000001            FULL row metadata, CRC32 checksums (the harness settings)
 *   mariadb-10.11-compressed-nolog.000001 log_bin_compress, no optional metadata, no checksums
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
} as const;

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

async function record(name: string, settings: Readonly<Record<string, string>>): Promise<void> {
  const server = await mysqlStartOwnServer({ settings });
  const dir = mkdtempSync(join(tmpdir(), 'crmb-record-'));
  try {
    const conn = await mysql.createConnection({ uri: server.url });
    try {
      const start = await masterStatus(conn);
      await workload(conn);
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

for (const r of Object.values(RECORDINGS)) await record(r.file, r.settings);
