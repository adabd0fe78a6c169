/**
 * The binlog decoder against what MariaDB 10.11 really writes: a table of every column type is
 * filled with known extremes, updated, deleted (also under binlog_row_image MINIMAL and NOBLOB),
 * beside a DDL, a rolled-back transaction, a table without a key and a 17 MB blob; the binlog is
 * fetched byte for byte and every decoded value must equal the value written. A server of the
 * test's own with log_bin_compress and binlog_row_metadata=NO_LOG (MariaDB's default: no
 * optional metadata; MINIMAL already carries signedness) covers compressed events and signedness
 * and names from hints.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { NOT_LOGGED, readBinlogFile } from '../../drivers/mysql/binlog/index.js';
import type { BinlogEvent, ColumnValue, GtidEvent, QueryEvent, RowsEvent, TableHints } from '../../drivers/mysql/binlog/index.js';
import { createMysqlDatabase, mysqlStartOwnServer, type TestDatabase } from '../harness/index.js';
import type { ThrowawayServer } from '../harness/server.js';
import { binlogFilesFrom, fetchBinlogs, masterStatus, type BinlogCoordinates } from '../fixtures/mysql-binlogs/fetch.js';
import {
  SESSION_SETUP,
  TYPE_COLUMNS,
  TYPES_HINTS,
  TYPES_TABLE,
  createTypesTable,
  expectedTypesRow,
  insertTypesRow,
} from '../fixtures/mysql-binlogs/workload.js';

const BIG_BLOB_BYTES = 17 * 1024 * 1024; // over 16 MB: the fourth length byte is used
// MariaDB logs GEOMETRY columns under NOBLOB: only BLOB, TEXT and JSON (a LONGTEXT) are left out
const BLOB_TYPED = new Set(['ttext', 'txt', 'mtext', 'ltext', 'tblob', 'blb', 'mblob', 'lblob', 'js']);
const col = (name: string): number => 1 + TYPE_COLUMNS.findIndex((c) => c.name === name);

/** Runs the statements, then returns every event of `database` the binlog holds after `start`. */
async function decodeSince(
  serverUrl: string,
  conn: mysql.Connection,
  start: BinlogCoordinates,
  hints?: (database: string, table: string) => TableHints | undefined,
): Promise<BinlogEvent[]> {
  const dir = mkdtempSync(join(tmpdir(), 'crmb-binlogs-'));
  try {
    const files = await binlogFilesFrom(conn, start.file);
    const paths = await fetchBinlogs(serverUrl, files, dir);
    const events: BinlogEvent[] = [];
    for (const [i, path] of paths.entries()) {
      for await (const ev of readBinlogFile(path, hints ? { hints } : undefined)) {
        if (i === 0 && ev.offset < start.position) continue;
        events.push(ev);
      }
    }
    return events;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rowsOf(events: readonly BinlogEvent[], database: string, table: string): RowsEvent[] {
  return events.filter((e): e is RowsEvent => e.kind === 'rows' && e.table.database === database && e.table.table === table);
}

/** Compares image values one by one so a failure names the column. */
function expectImage(actual: readonly ColumnValue[] | undefined, expected: readonly ColumnValue[], what: string): void {
  expect(actual, what).toBeDefined();
  const names = ['id', ...TYPE_COLUMNS.map((c) => c.name)];
  expect(actual!.length, `${what}: column count`).toBe(expected.length);
  expected.forEach((v, i) => {
    const got = actual![i];
    if (typeof v === 'number') expect(Object.is(got, v), `${what}: ${names[i]} is ${String(got)}, expected ${v}`).toBe(true);
    else expect(got, `${what}: column ${names[i] ?? i}`).toEqual(v);
  });
}

describe('binlog decoder on MariaDB 10.11 binlogs', () => {
  let serverUrl: string;
  let db: TestDatabase;
  let conn: mysql.Connection;
  let events: BinlogEvent[];
  let bigBlob: Buffer;
  let rowMetadataSession: string;

  beforeAll(async () => {
    serverUrl = inject('mysqlUrl');
    db = await createMysqlDatabase('binlog_decoder');
    conn = await mysql.createConnection({ uri: db.url });
    const start = await masterStatus(conn);
    for (const s of SESSION_SETUP) await conn.query(s);
    await conn.query(createTypesTable());
    for (const id of [1, 2, 3] as const) {
      const { sql, params } = insertTypesRow(id);
      await conn.query(sql, params);
    }
    await conn.query(`UPDATE ${TYPES_TABLE} SET i = 7, vc = 'changed' WHERE id = 1`);
    await conn.query(`DELETE FROM ${TYPES_TABLE} WHERE id = 2`);
    await conn.query("SET SESSION binlog_row_image = 'MINIMAL'");
    await conn.query(`UPDATE ${TYPES_TABLE} SET iu = 1 WHERE id = 1`);
    await conn.query(`DELETE FROM ${TYPES_TABLE} WHERE id = 3`);
    await conn.query("SET SESSION binlog_row_image = 'NOBLOB'");
    await conn.query(`UPDATE ${TYPES_TABLE} SET ti = 1 WHERE id = 1`);
    await conn.query("SET SESSION binlog_row_image = 'FULL'");
    // binlog_row_metadata is GLOBAL on MariaDB: record what the server says to a session change
    rowMetadataSession = await conn.query("SET SESSION binlog_row_metadata = 'MINIMAL'").then(
      () => 'settable',
      (e: Error) => e.message,
    );
    await conn.query('CREATE TABLE tz (id INT PRIMARY KEY, ts TIMESTAMP(3) NULL)');
    await conn.query("SET SESSION time_zone = '+05:00'");
    await conn.query("INSERT INTO tz VALUES (1, '2026-12-05 19:02:59.250')");
    await conn.query("SET SESSION time_zone = '+00:00'");
    await conn.query('CREATE TABLE nokey (a INT, b VARCHAR(10))');
    await conn.query("INSERT INTO nokey VALUES (1, 'x'), (1, 'x')");
    await conn.query("UPDATE nokey SET b = 'y'");
    await conn.query('DELETE FROM nokey');
    await conn.query('BEGIN');
    await conn.query(`INSERT INTO ${TYPES_TABLE} (id, i) VALUES (99, 99)`);
    await conn.query('ROLLBACK');
    await conn.query(`ALTER TABLE ${TYPES_TABLE} ADD COLUMN extra INT NULL`);
    await conn.query('CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)');
    bigBlob = Buffer.alloc(BIG_BLOB_BYTES);
    for (let i = 0; i < bigBlob.length; i += 4) bigBlob.writeUInt32LE(i, i);
    await conn.query('INSERT INTO big VALUES (1, ?)', [bigBlob]);
    events = await decodeSince(serverUrl, conn, start);
  });

  afterAll(async () => {
    await conn?.end();
    await db?.drop();
  });

  it('decodes every column type exactly: low and high extremes, then all NULL', () => {
    const inserts = rowsOf(events, db.name, TYPES_TABLE).filter((e) => e.operation === 'insert');
    expect(inserts.map((e) => e.rows.length)).toEqual([1, 1, 1]);
    expectImage(inserts[0]!.rows[0]!.after, expectedTypesRow(1), 'row 1');
    expectImage(inserts[1]!.rows[0]!.after, expectedTypesRow(2), 'row 2');
    expectImage(inserts[2]!.rows[0]!.after, expectedTypesRow(3), 'row 3');
  });

  it('describes the columns from the full row metadata: names, signedness, key, enum values', () => {
    const table = rowsOf(events, db.name, TYPES_TABLE)[0]!.table;
    expect(table.columns.map((c) => c.name)).toEqual(['id', ...TYPE_COLUMNS.map((c) => c.name)]);
    expect(table.columns.map((c) => c.unsigned === true)).toEqual(TYPES_HINTS.unsigned);
    expect(table.primaryKey).toEqual([0]);
    expect(table.columns[col('en')]!.enumValues).toEqual(['a', 'b', 'c'].map((s) => Buffer.from(s)));
    expect(table.columns[col('st64')]!.setValues).toHaveLength(64);
    expect(table.columns[col('ch')]!.collation).toBeDefined();
    expect(table.columns[col('bin')]!.collation).toBeUndefined();
    expect(table.columns[col('ch_long')]!.meta).toBe(1020);
  });

  it('updates and deletes carry both images', () => {
    const [update, , noblobUpdate] = rowsOf(events, db.name, TYPES_TABLE).filter((e) => e.operation === 'update');
    const row1 = expectedTypesRow(1);
    const changed = [...row1];
    changed[col('i')] = 7n;
    changed[col('vc')] = Buffer.from('changed');
    expectImage(update!.rows[0]!.before, row1, 'update before');
    expectImage(update!.rows[0]!.after, changed, 'update after');
    const del = rowsOf(events, db.name, TYPES_TABLE).find((e) => e.operation === 'delete')!;
    expectImage(del.rows[0]!.before, expectedTypesRow(2), 'delete before');

    // NOBLOB: BLOB, TEXT and JSON columns the statement leaves alone are not logged
    const before = changed.map((v, i) => (i > 0 && BLOB_TYPED.has(TYPE_COLUMNS[i - 1]!.name) ? NOT_LOGGED : v));
    before[col('iu')] = 1n;
    const after = [...before];
    after[col('ti')] = 1n;
    expectImage(noblobUpdate!.rows[0]!.before, before, 'NOBLOB before');
    expectImage(noblobUpdate!.rows[0]!.after, after, 'NOBLOB after');
  });

  it('binlog_row_image=MINIMAL: absent columns are NOT_LOGGED, never NULL', () => {
    const tableRows = rowsOf(events, db.name, TYPES_TABLE);
    const update = tableRows.filter((e) => e.operation === 'update')[1]!;
    const onlyKey = (id: bigint): ColumnValue[] => [id, ...TYPE_COLUMNS.map((): ColumnValue => NOT_LOGGED)];
    const after: ColumnValue[] = [NOT_LOGGED, ...TYPE_COLUMNS.map((): ColumnValue => NOT_LOGGED)];
    after[col('iu')] = 1n;
    expect(update.rows).toEqual([{ before: onlyKey(1n), after }]);
    const del = tableRows.filter((e) => e.operation === 'delete')[1]!;
    expect(del.rows).toEqual([{ before: onlyKey(3n) }]);
  });

  it('binlog_row_metadata cannot be set per session on MariaDB (it is GLOBAL)', () => {
    expect(rowMetadataSession).toMatch(/GLOBAL/);
  });

  it('TIMESTAMP is logged in UTC whatever the session time zone', () => {
    const [ins] = rowsOf(events, db.name, 'tz');
    expect(ins!.rows[0]!.after).toEqual([1n, '2026-12-05 14:02:59.250']);
  });

  it('a table without a key: no primary key in the TABLE_MAP, whole rows in every image', () => {
    const [ins, upd, del] = rowsOf(events, db.name, 'nokey');
    expect(ins!.table.primaryKey).toBeUndefined();
    expect(ins!.rows).toEqual([{ after: [1n, Buffer.from('x')] }, { after: [1n, Buffer.from('x')] }]);
    expect(upd!.rows).toHaveLength(2);
    expect(upd!.rows[0]).toEqual({ before: [1n, Buffer.from('x')], after: [1n, Buffer.from('y')] });
    expect(del!.rows.map((r) => r.before)).toEqual([
      [1n, Buffer.from('y')],
      [1n, Buffer.from('y')],
    ]);
  });

  it('a rolled-back transaction leaves nothing in the binlog', () => {
    const ids = rowsOf(events, db.name, TYPES_TABLE).flatMap((e) => e.rows.flatMap((r) => [r.before?.[0], r.after?.[0]]));
    expect(ids).not.toContain(99n);
  });

  it('DDL is a QUERY with its text and session state, in a standalone GTID transaction', () => {
    const i = events.findIndex((e) => e.kind === 'query' && e.sql.startsWith(`ALTER TABLE ${TYPES_TABLE}`));
    const ddl = events[i] as QueryEvent;
    expect(ddl.sql).toBe(`ALTER TABLE ${TYPES_TABLE} ADD COLUMN extra INT NULL`);
    expect(ddl.database).toBe(db.name);
    expect(ddl.sqlMode).toBe(0n);
    expect(ddl.charset?.client).toBeGreaterThan(0);
    const gtid = events[i - 1] as GtidEvent;
    expect(gtid).toMatchObject({ kind: 'gtid', flavor: 'mariadb', standalone: true, ddl: true });
    expect(gtid.gtid).toMatch(/^0-1-\d+$/);
  });

  it('row transactions: GTID, ANNOTATE_ROWS with the statement, TABLE_MAP, rows, XID', () => {
    const i = events.findIndex((e) => e.kind === 'annotate-rows' && e.sql === `UPDATE ${TYPES_TABLE} SET i = 7, vc = 'changed' WHERE id = 1`);
    expect(i).toBeGreaterThan(0);
    // MariaDB's GTID event stands for BEGIN: no QUERY BEGIN follows it
    const kinds = events.slice(i - 1, i + 4).map((e) => e.kind);
    expect(kinds).toEqual(['gtid', 'annotate-rows', 'table-map', 'rows', 'xid']);
    expect((events[i - 1] as GtidEvent).transactional).toBe(true);
    expect((events[i + 2] as RowsEvent).statementEnd).toBe(true);
  });

  it('a LONGBLOB over 16 MB', () => {
    const [ins] = rowsOf(events, db.name, 'big');
    const value = ins!.rows[0]!.after![1] as Buffer;
    expect(value.length).toBe(BIG_BLOB_BYTES);
    expect(value.equals(bigBlob)).toBe(true);
  });

  it('every event is checksummed (CRC32 verified) and carries its file and offset', () => {
    expect(events.every((e) => typeof e.file === 'string' && e.offset >= 4)).toBe(true);
    expect(events.filter((e) => e.kind === 'rows').length).toBeGreaterThan(10);
  });
});

describe('binlog decoder on a MariaDB with log_bin_compress and binlog_row_metadata=NO_LOG', () => {
  let server: ThrowawayServer;
  let conn: mysql.Connection;
  let start: BinlogCoordinates;

  beforeAll(async () => {
    server = await mysqlStartOwnServer({
      settings: { 'log-bin-compress': 'ON', 'log-bin-compress-min-len': '10', 'binlog-row-metadata': 'NO_LOG' },
    });
    conn = await mysql.createConnection({ uri: server.url });
    start = await masterStatus(conn);
    for (const s of SESSION_SETUP) await conn.query(s);
    await conn.query(createTypesTable());
    for (const id of [1, 2, 3] as const) {
      const { sql, params } = insertTypesRow(id);
      await conn.query(sql, params);
    }
    await conn.query(`UPDATE ${TYPES_TABLE} SET i = 7 WHERE id = 1`);
  });

  afterAll(async () => {
    await conn?.end();
    await server?.stop();
  });

  it('decodes compressed QUERY and rows events to the same values, signedness from hints', async () => {
    const hints = (_db: string, table: string): TableHints | undefined => (table === TYPES_TABLE ? TYPES_HINTS : undefined);
    const events = await decodeSince(server.url, conn, start, hints);
    const rows = events.filter((e): e is RowsEvent => e.kind === 'rows');
    expect(rows.every((e) => e.compressed === true)).toBe(true);
    expect(events.some((e) => e.kind === 'query' && e.compressed === true && e.sql.startsWith('CREATE TABLE'))).toBe(true);
    const inserts = rows.filter((e) => e.operation === 'insert');
    expectImage(inserts[0]!.rows[0]!.after, expectedTypesRow(1), 'compressed row 1');
    expectImage(inserts[1]!.rows[0]!.after, expectedTypesRow(2), 'compressed row 2');
    expectImage(inserts[2]!.rows[0]!.after, expectedTypesRow(3), 'compressed row 3');
    expect(inserts[0]!.table.columns[col('tiu')]!.name).toBe('tiu');
    const update = rows.find((e) => e.operation === 'update')!;
    expect(update.rows[0]!.after![col('i')]).toBe(7n);
  });

  it('without hints, a TABLE_MAP without optional metadata leaves integers signed (the documented default)', async () => {
    const events = await decodeSince(server.url, conn, start);
    const row2 = events.filter((e): e is RowsEvent => e.kind === 'rows')[1]!.rows[0]!.after!;
    expect(row2[col('tiu')]).toBe(-1n);
    expect(row2[col('biu')]).toBe(-1n);
    expect(row2[col('ti')]).toBe(127n);
    expect(events.filter((e): e is RowsEvent => e.kind === 'rows')[0]!.table.columns[1]!.name).toBeUndefined();
  });
});
