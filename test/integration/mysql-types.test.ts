/**
 * Every MySQL/MariaDB column type survives snapshot and load byte for byte: integers at their
 * limits (unsigned too), DECIMAL, FLOAT beyond its 6 printed digits, DOUBLE extremes, BIT, ENUM,
 * SET, YEAR, dates and times with fractions and zero dates, TIME negative and over 24 h, text in
 * several charsets with every byte LOAD DATA escapes, binary data, JSON, GEOMETRY, generated and
 * invisible columns.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/mysql/index.js';
import { LOAD_FORMAT } from '../../drivers/mysql/internal/load.js';
import { createMysqlDatabase, type TestDatabase } from '../harness/index.js';
import { mysqlChecksums, mysqlExec, mysqlRoundTrip } from '../helpers/mysql.js';

const SEED = `
  SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION';
  CREATE TABLE ints (
    id int PRIMARY KEY,
    ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, miu mediumint unsigned,
    i int, iu int unsigned, bi bigint, biu bigint unsigned, z int(5) unsigned zerofill);
  INSERT INTO ints VALUES
    (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 42),
    (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 0),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  CREATE TABLE nums (
    id int PRIMARY KEY, d65 decimal(65,30), du decimal(10,0) unsigned, d2 decimal(5,2),
    f float, fu float unsigned, d double, b1 bit(1), b64 bit(64), b10 bit(10));
  INSERT INTO nums VALUES
    (1, '-99999999999999999999999999999999999.999999999999999999999999999999', 9999999999, -0.01,
        16777217, 0.1, 0.1e0 + 0.2e0, b'1', b'1111111111111111111111111111111111111111111111111111111111111111', b'1010101010'),
    (2, '0.000000000000000000000000000001', 0, 999.99, 3.40282e38, 1.17549435e-38, 1.7976931348623157e308, b'0', 0, 0),
    (3, 0, 1, 0, 1.0000001, 0, 5e-324, NULL, 1, b'1000000000'),
    (4, NULL, NULL, NULL, -0e0, NULL, -1e-300, NULL, NULL, NULL),
    (5, 1, 1, 1, 0.3333333333, 1, 1e0/3e0, 1, 9223372036854775808, 1);
  CREATE TABLE times (
    id int PRIMARY KEY, y year, dt date, dtm datetime, dtm6 datetime(6), ts timestamp(3) NULL DEFAULT NULL,
    t time, t6 time(6), e enum('a','b','c d'), s set('x','y','z'));
  INSERT INTO times VALUES
    (1, 0, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', '1970-01-01 00:00:01.000',
        '-838:59:59', '-838:59:59.000000', 'a', ''),
    (2, 1901, '2024-02-29', '9999-12-31 23:59:59', '2026-12-05 14:02:59.123456', '2038-01-19 03:14:07.999',
        '838:59:59', '123:45:06.500001', 'c d', 'x,z'),
    (3, 2155, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000001', NULL,
        '-00:00:01', '00:00:00.000000', NULL, 'x,y,z'),
    (4, NULL, '2024-00-00', '2024-01-00 10:00:00', NULL, '0000-00-00 00:00:00.000', NULL, NULL, 'b', NULL);
  CREATE TABLE texts (
    id int PRIMARY KEY,
    l varchar(50) CHARACTER SET latin1, u varchar(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin,
    cyr text CHARACTER SET cp1251, c char(10) CHARACTER SET utf8mb4, bn binary(6), vb varbinary(50),
    bl longblob, tx longtext, j json);
  INSERT INTO texts VALUES
    (1, 'caf\\xE9', 'tab\\there\\nnewline\\rcr \\\\ back \\\\N', 'Привет', 'a', 'ab', x'00015c090a0d4e',
        x'00ff5c4e0a', CONCAT('\\\\N'), '{"a": [1, 2.50, "x\\\\ty"], "b": null, "c": "\\\\u00e9"}'),
    (2, '', '😀 emoji', '', '', x'000000000000', x'', x'', '', '[]'),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (4, '\\\\N', 'N', 'N', '\\\\', x'5c4e', x'5c', REPEAT(x'00ff7f80', 100000), REPEAT('long line ', 50000), '"\\\\\\\\N"');
  UPDATE texts SET l = CONVERT(x'636166e9' USING latin1) WHERE id = 1;
  CREATE TABLE shapes (id int PRIMARY KEY, g geometry, p point, poly polygon NULL);
  INSERT INTO shapes VALUES
    (1, ST_GeomFromText('POINT(1.5 -2.25)'), ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))')),
    (2, ST_GeomFromText('LINESTRING(0 0,1 1,2 1)', 4326), ST_GeomFromText('POINT(1e300 -1e-300)'), NULL),
    (3, NULL, ST_GeomFromText('POINT(-0 3)'), NULL);
  CREATE TABLE computed (
    id int PRIMARY KEY, a int, b varchar(20),
    v int AS (a * 2) VIRTUAL, s varchar(30) AS (CONCAT(b, '!')) STORED, h int INVISIBLE DEFAULT 7,
    KEY (s));
  INSERT INTO computed (id, a, b, h) VALUES (1, 21, 'x', 1), (2, NULL, NULL, NULL), (3, 0, '', 3);
  INSERT INTO computed (id, a, b) VALUES (4, 5, 'y');
  CREATE TABLE zero_id (id int AUTO_INCREMENT PRIMARY KEY, v int);
  SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO';
  INSERT INTO zero_id VALUES (0, 0), (5, 5);
`;

describe('mysql types', () => {
  let src: TestDatabase;
  let dst: TestDatabase;

  beforeAll(async () => {
    src = await createMysqlDatabase('types_src');
    dst = await createMysqlDatabase('types_dst');
    await mysqlExec(src.url, SEED);
  });
  afterAll(async () => {
    await Promise.all([src?.drop(), dst?.drop()]);
  });

  it('round-trips every column of every type exactly', async () => {
    // one worker: the lock-free path (the consistent snapshot's own binlog coordinates)
    const { streams, reader } = await mysqlRoundTrip(src.url, dst.url, { jobs: 1 });
    expect(reader.meta).toMatchObject({ lock: 'none', flavour: 'mariadb', timeZone: '+00:00' });
    expect(reader.position).toMatch(/^binlog\.\d+:\d+#\d+-\d+-\d+/);
    expect(streams.map((s) => s.table).sort()).toEqual(
      ['computed', 'ints', 'nums', 'shapes', 'texts', 'times', 'zero_id'].map((t) => `${src.name}.${t}`),
    );
    const before = await mysqlChecksums(src.url);
    const after = await mysqlChecksums(dst.url);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const t of Object.keys(before)) expect({ t, ...after[t] }).toEqual({ t, ...before[t] });
    expect(before.texts?.rows).toBe(4);

    // spot checks on values a checksum would not explain
    const q = 'SELECT HEX(l) AS l, HEX(cyr) AS cyr, HEX(u) AS u FROM texts WHERE id = 1';
    expect(await mysqlExec(dst.url, q)).toEqual(await mysqlExec(src.url, q));
    expect(await mysqlExec(dst.url, 'SELECT HEX(l) AS l FROM texts WHERE id = 1')).toEqual([
      { l: '636166E9' },
    ]);
    const f = 'SELECT f * 1e0 AS f, biu FROM nums JOIN ints USING (id) WHERE id = 1';
    expect(await mysqlExec(dst.url, f)).toEqual([{ f: 16777216, biu: '18446744073709551615' }]);
    expect(await mysqlExec(dst.url, 'SELECT id, h, v, s FROM computed ORDER BY id')).toEqual([
      { id: 1, h: 1, v: 42, s: 'x!' },
      { id: 2, h: null, v: null, s: null },
      { id: 3, h: 3, v: 0, s: '!' },
      { id: 4, h: 7, v: 10, s: 'y!' },
    ]);
    expect(await mysqlExec(dst.url, 'SELECT id FROM zero_id ORDER BY id')).toEqual([{ id: 0 }, { id: 5 }]);
    expect(await mysqlExec(dst.url, 'SELECT dt, t, ts FROM times WHERE id = 1')).toEqual([
      { dt: '0000-00-00', t: '-838:59:59', ts: '1970-01-01 00:00:01.000' },
    ]);
  });

  it('a value the target would change fails the load in one sentence instead of loading it changed', async () => {
    const to = await createMysqlDatabase('types_bad');
    const source = await driver.openSource(src.url, { name: 'test' });
    const reader = await source.openSnapshot({ jobs: 1, tables: ['ints'] });
    const target = await driver.openTarget(to.url);
    try {
      await target.createSchema(reader.schema, reader.schemaFormat, 'pre-data');
      async function* rows(): AsyncGenerator<Uint8Array> {
        yield Buffer.from('1\t300\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\n');
      }
      await expect(target.load(`${src.name}.ints`, LOAD_FORMAT, rows())).rejects.toThrow(
        /^Loading table ints into .* gave 1 warning\(s\), so some values would differ from the snapshot, e\.g\. "Out of range value for column 'ti' at row 1"/,
      );
    } finally {
      await reader.close();
      await target.close();
      await source.close();
      await to.drop();
    }
  });
});
