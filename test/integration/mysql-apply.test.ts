/**
 * MysqlApplier against the harness MariaDB: decoded values (as the binlog decoder hands them over,
 * binlog/types.ts) replayed into real columns come back exactly; updates and deletes find their
 * rows by key or, without one, by every column; DDL runs against the target database whatever the
 * source's name; a row the target lacks stops the replay with a sentence; and the throughput.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlApplier } from '../../drivers/mysql/apply.js';
import { ColumnType as T, NOT_LOGGED, type ColumnValue } from '../../drivers/mysql/binlog/types.js';
import {
  PayloadBuilder,
  type PayloadColumn,
  type PayloadTable,
} from '../../drivers/mysql/internal/payload.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import { createMysqlDatabase, type TestDatabase } from '../harness/databases.js';

const SOURCE_DB = 'crm_source';

const col = (name: string, type: number, o: Partial<PayloadColumn> = {}): PayloadColumn => ({
  name,
  type,
  meta: 0,
  unsigned: false,
  collation: null,
  ...o,
});

const TYPES: PayloadTable = {
  database: SOURCE_DB,
  table: 'types',
  primaryKey: [0],
  columns: [
    col('id', T.LONGLONG, { unsigned: true }),
    col('f', T.FLOAT),
    col('d', T.DOUBLE),
    col('de', T.NEWDECIMAL),
    col('dt', T.DATETIME2),
    col('ts', T.TIMESTAMP2),
    col('da', T.DATE),
    col('ti', T.TIME2),
    col('y', T.YEAR),
    col('e', T.STRING),
    col('s', T.STRING),
    col('b', T.BIT),
    col('vc', T.VARCHAR, { collation: 224 }),
    col('l1', T.VARCHAR, { collation: 8 }),
    col('vb', T.VARCHAR),
    col('bl', T.BLOB),
    col('g', T.GEOMETRY),
    col('n', T.LONG),
  ],
};
const TYPES_DDL = `CREATE TABLE types (
  id BIGINT UNSIGNED PRIMARY KEY, f FLOAT, d DOUBLE, de DECIMAL(30,6), dt DATETIME(6), ts TIMESTAMP(6) NULL,
  da DATE, ti TIME(3), y YEAR, e ENUM('a','b','c'), s SET('x','y','z'), b BIT(10),
  vc VARCHAR(50) CHARACTER SET utf8mb4, l1 VARCHAR(20) CHARACTER SET latin1, vb VARBINARY(20), bl BLOB,
  g GEOMETRY NULL, n INT DEFAULT 42)`;

const NOTES: PayloadTable = {
  database: SOURCE_DB,
  table: 'notes',
  primaryKey: null,
  columns: [col('a', T.LONG), col('b', T.VARCHAR, { collation: 224 }), col('f', T.FLOAT)],
};

// POINT(1 2) in MySQL's internal form: SRID 0, then WKB
const POINT = Buffer.from('00000000' + '0101000000' + '000000000000F03F' + '0000000000000040', 'hex');

function row(id: bigint, over: Partial<Record<string, ColumnValue>> = {}): ColumnValue[] {
  const base: Record<string, ColumnValue> = {
    id,
    f: Math.fround(1.1),
    d: 0.1,
    de: '-12345678901234567890.123450',
    dt: '2026-12-05 14:02:59.123456',
    ts: '2026-12-05 14:02:59.000001',
    da: '0000-00-00',
    ti: '-838:59:59.000',
    y: 0,
    e: 2,
    s: 5n,
    b: Buffer.from([0x02, 0x01]),
    vc: Buffer.from("it's é 😀 \\ \n", 'utf8'),
    l1: Buffer.from([0x63, 0x61, 0x66, 0xe9]), // café in latin1
    vb: Buffer.from([0x00, 0xff, 0x27]),
    bl: Buffer.alloc(3000, 0xab),
    g: POINT,
    n: 7n,
    ...over,
  };
  return TYPES.columns.map((c) => base[c.name] ?? null);
}

let seq = 0;
function tx(build: (b: PayloadBuilder) => void, more = false, database = SOURCE_DB): Transaction {
  const b = new PayloadBuilder({ database, gtid: `0-1-${++seq}`, part: 0, internal: false });
  build(b);
  return {
    position: `binlog.000001:${seq * 100}`,
    commitTime: BigInt(seq),
    payload: b.finish(),
    changes: b.changes,
    ...(more ? { more } : {}),
  };
}

describe('MySQL/MariaDB apply', () => {
  let db: TestDatabase;
  let conn: mysql.Connection;
  let applier: MysqlApplier;
  const q = async (sql: string): Promise<mysql.RowDataPacket[]> =>
    (await conn.query<mysql.RowDataPacket[]>(sql))[0];

  beforeAll(async () => {
    db = await createMysqlDatabase('mysql_apply');
    conn = await mysql.createConnection({
      uri: db.url,
      multipleStatements: true,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    await conn.query(`${TYPES_DDL}; CREATE TABLE notes (a INT, b VARCHAR(20), f FLOAT)`);
    applier = await MysqlApplier.connect({ uri: db.url });
  });
  afterAll(async () => {
    await applier?.close();
    await conn?.end();
    await db?.drop();
  });

  it('puts every value kind back exactly', async () => {
    await applier.apply(
      tx((b) => {
        b.insert(TYPES, row(18446744073709551615n));
        b.insert(
          TYPES,
          row(1n, {
            f: -0,
            d: -0,
            de: '0.000001',
            ts: '0000-00-00 00:00:00.000000',
            y: 2026,
            e: 0,
            s: 0n,
            b: Buffer.from([0, 0]),
            g: null,
          }),
        );
        b.insert(
          TYPES,
          row(2n, { f: Math.fround(3.4028234663852886e38), d: 5e-324, vc: Buffer.alloc(0), n: NOT_LOGGED }),
        );
      }),
    );
    const rows = await q(
      `SELECT id, f + 0e0 AS f, d, CAST(de AS CHAR) de, dt, ts, da, ti, y + 0 y, e + 0 e, s + 0 s, b + 0 b,
              HEX(vc) vc, HEX(l1) l1, HEX(vb) vb, HEX(bl) bl, HEX(g) g, n
         FROM types ORDER BY id`,
    );
    expect(rows.map((r) => r.id)).toEqual(['1', '2', '18446744073709551615']);
    const [r1, r2, rmax] = rows;
    expect(rmax).toMatchObject({
      f: Math.fround(1.1),
      d: 0.1,
      de: '-12345678901234567890.123450',
      dt: '2026-12-05 14:02:59.123456',
      ts: '2026-12-05 14:02:59.000001',
      da: '0000-00-00',
      ti: '-838:59:59.000',
      y: 0,
      e: 2,
      s: 5,
      b: '513',
      vc: Buffer.from("it's é 😀 \\ \n").toString('hex').toUpperCase(),
      l1: '636166E9',
      vb: '00FF27',
      bl: 'AB'.repeat(3000),
      g: POINT.toString('hex').toUpperCase(),
      n: 7,
    });
    expect(r1).toMatchObject({
      f: 0, // -0 written as -0e0; MariaDB stores a DOUBLE or FLOAT -0 as 0, as on the source
      d: 0,
      de: '0.000001',
      ts: '0000-00-00 00:00:00.000000',
      y: 2026,
      e: 0,
      s: 0,
      b: '0',
      g: null,
    });
    expect(r2).toMatchObject({ f: Math.fround(3.4028234663852886e38), d: 5e-324, vc: '', n: 42 });
    const latin = await q(`SELECT l1 = 'café' AS ok, CHARSET(l1) cs FROM types WHERE id = 1`);
    expect(latin[0]).toMatchObject({ ok: 1, cs: 'latin1' });
  });

  it('updates and deletes by key, and without a key one of two identical rows at a time', async () => {
    await applier.apply(
      tx((b) => {
        b.update(TYPES, row(1n), row(1n, { vc: Buffer.from('changed'), id: 3n }));
        b.delete(TYPES, row(2n));
        for (const v of [1, 1, 2]) b.insert(NOTES, [BigInt(v), Buffer.from('dup'), Math.fround(0.3)]);
        b.delete(NOTES, [1n, Buffer.from('dup'), Math.fround(0.3)]);
        b.update(NOTES, [2n, Buffer.from('dup'), Math.fround(0.3)], [2n, null, Math.fround(0.3)]);
      }),
    );
    expect((await q('SELECT id, vc FROM types ORDER BY id')).map((r) => [r.id, String(r.vc)])).toEqual([
      ['3', 'changed'],
      ['18446744073709551615', "it's é 😀 \\ \n"],
    ]);
    // one row updated twice in a row: the second sees the first (never both in one batched UPDATE)
    await applier.apply(
      tx((b) => {
        b.update(
          TYPES,
          row(3n, { vc: Buffer.from('changed') }),
          row(3n, { vc: Buffer.from('twice'), n: 1n }),
        );
        b.update(
          TYPES,
          row(3n, { vc: Buffer.from('twice'), n: 1n }),
          row(3n, { vc: Buffer.from('thrice'), n: 2n }),
        );
        b.update(
          TYPES,
          row(3n, { vc: Buffer.from('thrice'), n: 2n }),
          row(3n, { vc: Buffer.from('changed'), n: 7n }),
        );
      }),
    );
    expect((await q('SELECT vc, n FROM types WHERE id = 3'))[0]).toEqual({ vc: 'changed', n: 7 });
    expect(await q('SELECT a, b FROM notes ORDER BY a, b')).toEqual([
      { a: 1, b: 'dup' },
      { a: 2, b: null },
    ]);
  });

  it('runs DDL against the target database, also when it names the source database', async () => {
    await applier.apply(
      tx((b) =>
        b.statement({
          database: SOURCE_DB,
          sql: `ALTER TABLE \`${SOURCE_DB}\`.notes ADD COLUMN c TIMESTAMP NULL DEFAULT '2026-01-01 00:00:00'`,
          sqlMode: 0n,
          timeZone: '+02:00',
          charset: { client: 45, connection: 45, server: 45 },
          tables: [`${SOURCE_DB}.notes`],
        }),
      ),
    );
    const cols = await q(
      `SELECT COLUMN_NAME c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${db.name}' AND TABLE_NAME = 'notes'`,
    );
    expect(cols.map((r) => r.c)).toContain('c');
    // the default was read under the source's time zone (+02:00): 2025-12-31 22:00 UTC
    await conn.query(`SET time_zone = '+00:00'; INSERT INTO notes (a) VALUES (9)`);
    expect((await q('SELECT c FROM notes WHERE a = 9'))[0]?.c).toBe('2025-12-31 22:00:00');
  });

  it('skips rows and DDL of other tables under --tables', async () => {
    await applier.apply(
      tx((b) => {
        b.insert(NOTES, [10n, null, null, NOT_LOGGED]);
        b.insert(TYPES, row(10n));
        b.statement({
          database: SOURCE_DB,
          sql: 'DROP TABLE types',
          sqlMode: null,
          timeZone: null,
          charset: null,
          tables: [`${SOURCE_DB}.types`],
        });
      }),
      { tables: new Set([`${SOURCE_DB}.notes`]) },
    );
    expect(Number((await q('SELECT COUNT(*) n FROM notes WHERE a = 10'))[0]?.n)).toBe(1);
    expect(Number((await q('SELECT COUNT(*) n FROM types WHERE id = 10'))[0]?.n)).toBe(0);
  });

  it('applies a transaction in parts atomically, and stops with a sentence at a row the target lacks', async () => {
    await applier.apply(tx((b) => b.insert(NOTES, [20n, null, null, NOT_LOGGED]), true));
    const bad = tx((b) => b.delete(TYPES, row(999n)));
    await expect(applier.apply(bad)).rejects.toThrow(
      /delete from `mysql_apply_\w+`\.`types` touched no rows on the target where the source changed 1, so the target does not match the source/,
    );
    // the first part was rolled back with the failing one
    expect(Number((await q('SELECT COUNT(*) n FROM notes WHERE a = 20'))[0]?.n)).toBe(0);
    const missing = tx((b) => b.update(TYPES, row(3n), row(3n, { n: 1n })));
    await applier.apply(missing); // id 3 exists: fine
    await expect(applier.apply(tx((b) => b.update(TYPES, row(77n), row(77n, { n: 1n }))))).rejects.toThrow(
      /update of `mysql_apply_\w+`\.`types` row \(id=77\) touched no rows/,
    );
  });

  it('replays at least 20,000 row changes per second', async () => {
    await conn.query(
      'CREATE TABLE bench (id INT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), at DATETIME)',
    );
    const BENCH: PayloadTable = {
      database: SOURCE_DB,
      table: 'bench',
      primaryKey: [0],
      columns: [
        col('id', T.LONG),
        col('name', T.VARCHAR, { collation: 224 }),
        col('amount', T.NEWDECIMAL),
        col('at', T.DATETIME2),
      ],
    };
    const N = 20_000;
    const r = (i: number, name: string): ColumnValue[] => [
      BigInt(i),
      Buffer.from(name),
      `${i}.25`,
      '2026-12-05 14:02:59',
    ];
    const parts: Transaction[] = [];
    const PER_PART = 5_000;
    for (let p = 0; p < N / PER_PART; p++) {
      parts.push(
        tx((b) => {
          for (let i = p * PER_PART; i < (p + 1) * PER_PART; i++) b.insert(BENCH, r(i, `name ${i}`));
        }, true),
      );
    }
    for (let p = 0; p < N / PER_PART; p++) {
      parts.push(
        tx((b) => {
          for (let i = p * PER_PART; i < (p + 1) * PER_PART; i++)
            b.update(BENCH, r(i, `name ${i}`), r(i, `renamed ${i}`));
        }, true),
      );
    }
    for (let p = 0; p < N / PER_PART; p++) {
      parts.push(
        tx(
          (b) => {
            for (let i = p * PER_PART; i < (p + 1) * PER_PART; i += 2) b.delete(BENCH, r(i, `renamed ${i}`));
          },
          p < N / PER_PART - 1,
        ),
      );
    }
    const changes = parts.reduce((n, t) => n + t.changes, 0);
    // warm-up, not timed: the first thousands of rows pay for JIT compilation and cold caches
    await applier.apply(
      tx((b) => {
        for (let i = -2000; i < 0; i++) b.insert(BENCH, r(i, 'warm'));
        for (let i = -2000; i < 0; i++) b.update(BENCH, r(i, 'warm'), r(i, 'warmer'));
        for (let i = -2000; i < 0; i++) b.delete(BENCH, r(i, 'warmer'));
      }),
    );
    const started = performance.now();
    for (const t of parts) await applier.apply(t);
    const seconds = (performance.now() - started) / 1000;
    const rate = Math.round(changes / seconds);
    console.log(`mysql apply: ${changes} row changes in ${seconds.toFixed(2)} s = ${rate} row changes/s`);
    expect((await q('SELECT COUNT(*) n, SUM(name LIKE "renamed %") r FROM bench'))[0]).toMatchObject({
      n: String(N / 2),
      r: String(N / 2),
    });
    expect(rate).toBeGreaterThanOrEqual(20_000);
  });
});
