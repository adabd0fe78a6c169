/**
 * The decoder against 41 public binlog files (MySQL 5.1–9.x, one MariaDB): every file is read
 * to its end, the damaged ones fail with a BinlogFormatError that names file and offset, and the
 * values are checked where the content is known: from the statements inside the files, and
 * against `mariadb-binlog -vv` wherever that tool reads the file.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BinlogFormatError, ColumnType, NOT_LOGGED } from '../../../drivers/mysql/binlog/index.js';
import type { BinlogEvent, ColumnValue, GtidEvent, GtidListEvent } from '../../../drivers/mysql/binlog/index.js';
import { PUBLIC_BINLOGS, havePublicBinlogs, readAll, rowsEvents } from './binlog-helpers.js';

if (!havePublicBinlogs) console.log(`binlog public fixture tests skipped: ${PUBLIC_BINLOGS} not found (see docs in ../shared/fixtures/README.md).`);

const f = (name: string): string => join(PUBLIC_BINLOGS, name);
const b = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Files that cannot be read to the end, with the offset of the event that stops them. */
const DAMAGED: Record<string, { offset: number; reason: RegExp }> = {
  'binlog_truncated_event.000001': { offset: 4, reason: /ends 10 bytes into an event header/ },
  'binlog_truncated_prev_gtid_event.000001': { offset: 120, reason: /ends 9 bytes into an event header/ },
  'corrupt-relay-bin.000624': { offset: 91204, reason: /QUERY event is too short: the status variables needs 16949 bytes/ },
  // a MySQL 5.2 development build ("5.2.2-a_drop6p13-debug") numbered row events differently
  // (16 was TABLE_MAP, 19 DELETE_ROWS); mariadb-binlog gives up on it too
  'ver_5_1-wl2325_r.001': { offset: 650, reason: /TABLE_MAP of .* has 3 bytes of column metadata/ },
};

describe.skipIf(!havePublicBinlogs)('binlog decoder on public binlog files', () => {
  const files = havePublicBinlogs ? readdirSync(PUBLIC_BINLOGS).sort() : [];

  it('finds all 41 files', () => {
    expect(files).toHaveLength(41);
  });

  it.each(files.filter((x) => !DAMAGED[x]))('reads %s to its end', async (name) => {
    const events = await readAll(f(name));
    expect(events[0]?.kind).toBe('format-description');
    for (const ev of events) expect(ev.file).toBe(name);
  });

  it.each(Object.entries(DAMAGED))('refuses %s with the file and the offset', async (name, want) => {
    const err = await readAll(f(name)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BinlogFormatError);
    const e = err as BinlogFormatError;
    expect(e.details.file).toBe(name);
    expect(e.details.offset).toBe(want.offset);
    expect(e.message).toMatch(new RegExp(`^${name.replace(/\./g, '\\.')} at offset ${want.offset}: `));
    expect(e.details.reason).toMatch(want.reason);
    expect(e.code).toBe('INTEGRITY');
  });

  it('CHAR, VARCHAR, ENUM, SET and TEXT (mysql-enum-string-set)', async () => {
    const events = await readAll(f('mysql-enum-string-set.000001'));
    const [ins, upd, del] = rowsEvents(events);
    const cols = ins!.table.columns;
    expect(cols.map((c) => c.type)).toEqual([ColumnType.STRING, ColumnType.VARCHAR, ColumnType.ENUM, ColumnType.SET, ColumnType.BLOB]);
    // CHAR(128) utf8mb4 is 512 bytes: more than 255, so its length hides two bits in the type byte
    expect(cols.map((c) => c.meta)).toEqual([512, 1200, 1, 1, 2]);
    const digits = '0123456789'.repeat(10);
    expect(ins!.rows[0]!.after).toEqual([b(digits), expect.any(Buffer), 1, 5n, b('0123456789')]);
    expect(upd!.rows[0]!.after).toEqual([b('field1'), b('field_2'), 2, 10n, expect.any(Buffer)]);
    expect(del!.rows[0]!.before).toEqual(upd!.rows[0]!.after);
  });

  it('BIT(3) and BIT(8) as big-endian bytes (mysql_type_bit)', async () => {
    const [ins] = rowsEvents(await readAll(f('mysql_type_bit.000001')));
    expect(ins!.table.columns.map((c) => [c.name, c.meta])).toEqual([['a', 3], ['b', 2], ['c', 8]]);
    expect(ins!.rows[0]!.after).toEqual([Buffer.from([0b100]), b('foo'), Buffer.from([0b0010_0000])]);
  });

  it('a negative TIME2 (time_issue)', async () => {
    const [ins] = rowsEvents(await readAll(f('time_issue.000001')));
    expect(ins!.rows[0]!.after).toEqual(['-507:48:27']);
  });

  it('minimal row image and metadata: NOT_LOGGED, not NULL; names from hints (minimal_row_metadata)', async () => {
    const hints = (db: string, table: string) => (db === 'noria' && table === 't1' ? { names: ['a', 'b', 'c', 'd', 'e'] } : undefined);
    const [ins] = rowsEvents(await readAll(f('minimal_row_metadata.000001'), hints));
    expect(ins!.rows[0]!.after).toEqual([1n, NOT_LOGGED, b('a'), NOT_LOGGED, 3230202323n]);
    expect(ins!.table.columns.map((c) => c.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(ins!.table.columns[4]!.unsigned).toBe(true);
  });

  it('invisible columns keep their place and say so (binlog-invisible-columns)', async () => {
    const [ins1, ins2, upd] = rowsEvents(await readAll(f('binlog-invisible-columns.000001')));
    expect(ins1!.table.columns.map((c) => c.visible)).toEqual([false, false, true, true, true, false]);
    expect(ins1!.rows[0]!.after).toEqual([1n, 2n, -3n, b('4'), b('\x05'), 6000000000n]);
    expect(ins2!.rows[0]!.after).toEqual([null, null, -33n, b('44'), b('U'), null]);
    expect(upd!.rows[0]!.after).toEqual([111n, 222n, -333n, b('444'), b('U'), null]);
  });

  it('binary JSON with opaque DATE, DATETIME, TIME and DECIMAL values (json-opaque)', async () => {
    const values = rowsEvents(await readAll(f('json-opaque.binlog'))).map((e) => e.rows[0]!.after![0]);
    expect(values).toEqual([
      '{"a": "base64:type15:VQ=="}',
      '{"b": "2012-03-18"}',
      '{"c": "2012-03-18 11:30:45.000000"}',
      '{"c": "87:31:46.654321"}',
      '{"d": 123.456}',
      '{"e": 9.00}',
      '{"e": [0, 1, true, false]}',
      '{"e": null}',
    ]);
  });

  it('JSON rows, full updates, and partial updates without the document (json.binlog)', async () => {
    const rows = rowsEvents(await readAll(f('json.binlog.000001')));
    expect(rows[0]!.rows[0]!.after).toEqual([1n, '{"age": 24, "data": "xxxxxxxxxx", "name": "Joe"}', b('Joe'), 24n]);
    const full = rows[4]!;
    expect(full.rows[0]!.after).toEqual([1n, '{"age": 25, "data": "xxxxxxxxxx", "name": "Joe"}', b('Joe'), 25n]);
    const partial = rows[5]!;
    expect(partial.header.type).toBe(39);
    // binlog_row_image=MINIMAL: the before image has only the key, so only the edit is known
    expect(partial.rows[0]).toEqual({
      before: [1n, NOT_LOGGED, NOT_LOGGED, NOT_LOGGED],
      after: [NOT_LOGGED, NOT_LOGGED, b('Joe'), 26n],
      jsonDiffs: [{ column: 1, op: 'replace', path: '$.age', value: '26' }],
    });
  });

  it('a zstd TRANSACTION_PAYLOAD expands into its events (transaction_compression)', async () => {
    const events = await readAll(f('transaction_compression.000001'));
    const inner = events.filter((e) => e.offset === 274);
    expect(inner.map((e) => e.kind)).toEqual(['query', 'table-map', 'rows', 'xid']);
    expect(rowsEvents(inner)[0]!.rows).toEqual([{ after: [1n] }]);
    expect((events.find((e) => e.kind === 'gtid-list') as GtidListEvent).gtids).toBe('357df524-4139-11ee-9979-b033ee13919e:1');
  });

  it('MySQL 8.4 tagged GTIDs and a tagged GTID set (binlog_transaction_with_GTID_TAG)', async () => {
    const events = await readAll(f('binlog_transaction_with_GTID_TAG.000001'));
    const gtid = events.find((e): e is GtidEvent => e.kind === 'gtid')!;
    expect(gtid).toMatchObject({ flavor: 'mysql', gtid: '55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3', tag: 'mytag' });
    expect(gtid.immediateCommitMicros).toBe(1770368687207196n);
    expect(gtid.originalCommitMicros).toBe(1770368687207196n);
    expect((events.find((e) => e.kind === 'gtid-list') as GtidListEvent).gtids).toBe(
      '55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2',
    );
    expect(rowsEvents(events)[0]!.rows[0]!.after).toEqual([3n, 100n, '250.00']);
  });

  it('anonymous GTIDs and commit timestamps', async () => {
    const anon = (await readAll(f('binlog_transaction_with_anonymous_GTID.000001'))).filter((e): e is GtidEvent => e.kind === 'gtid');
    expect(anon.map((g) => g.gtid)).toEqual(['', '']);
    const withGtid = (await readAll(f('mysql_type_bit.000001'))).filter((e): e is GtidEvent => e.kind === 'gtid');
    expect(withGtid.map((g) => g.gtid)).toEqual([1, 2, 3].map((n) => `fbda2ad0-7c46-11ec-ae30-4ef7efc81a2a:${n}`));
    expect(withGtid[2]!.originalCommitMicros).toBe(1642940552829769n);
  });

  it('VECTOR values as float32 bytes (vector.binlog)', async () => {
    const [foo, bar] = rowsEvents(await readAll(f('vector.binlog')));
    const floats = (v: ColumnValue): number[] => {
      const buf = v as Buffer;
      return Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
    };
    expect(foo!.table.columns[1]!.type).toBe(ColumnType.VECTOR);
    expect(floats(foo!.rows[0]!.after![1]!)).toEqual([1.1, 2.2, 3.3].map(Math.fround));
    expect(floats(foo!.rows[1]!.after![1]!)).toEqual([1, -1, 0]);
    expect(bar!.rows[1]!.after![2]).toEqual(b('bar'));
    expect(floats(bar!.rows[1]!.after![3]!)).toEqual([42, 43, 44, 45]);
  });

  it('MariaDB: GTID, ANNOTATE_ROWS, enum strings, primary key, TIMESTAMP2 (mariadb-bin)', async () => {
    const events = await readAll(f('mariadb-bin.000001'));
    expect(events[0]).toMatchObject({ kind: 'format-description', flavor: 'mariadb', checksum: 'crc32' });
    const gtids = events.filter((e): e is GtidEvent => e.kind === 'gtid');
    expect(gtids.map((g) => [g.flavor, g.gtid, g.standalone, g.transactional])).toEqual([
      ['mariadb', '0-1-1', false, true],
      ['mariadb', '0-1-2', false, true],
    ]);
    expect(events.filter((e) => e.kind === 'annotate-rows')).toHaveLength(2);
    const [ins] = rowsEvents(events);
    expect(ins!.table.primaryKey).toEqual([0]);
    expect(ins!.table.columns[2]!.enumValues).toEqual([b('BLOB'), b('JSON'), b('PROTOBUF')]);
    expect(ins!.rows[0]!.after).toEqual([62n, b('foo'), 2, b('{"foo":1}'), '2022-04-20 22:18:04']);
  });

  it('columns left out of the row image are NOT_LOGGED (update-partial-row)', async () => {
    const [, , upd, del] = rowsEvents(await readAll(f('update-partial-row.binlog')));
    expect(upd!.rows[0]).toEqual({ before: [4n, NOT_LOGGED, 4n], after: [4n, NOT_LOGGED, 40n] });
    expect(del!.rows[0]).toEqual({ before: [2n, NOT_LOGGED, NOT_LOGGED] });
  });

  const mariadbBinlog = ['/usr/bin/mariadb-binlog', '/usr/bin/mysqlbinlog'].find((p) => existsSync(p));
  it.skipIf(!mariadbBinlog)('agrees with mariadb-binlog -vv on every row and every integer and plain string value', async () => {
    let compared = 0;
    for (const name of files.filter((x) => !DAMAGED[x])) {
      let text: string;
      try {
        text = execFileSync(mariadbBinlog!, ['-vv', '--base64-output=decode-rows', f(name)], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch {
        continue; // a file the tool cannot read (MySQL 8 events it does not know)
      }
      const theirs = imagesFromMariadbBinlog(text);
      const ours = rowsEvents(await readAll(f(name))).flatMap((e) => e.rows.flatMap((r) => [r.before, r.after].filter((x) => x !== undefined)));
      expect(ours.length, name).toBe(theirs.length);
      ours.forEach((image, i) => {
        const printed = theirs[i]!;
        image.forEach((v, col) => {
          const p = printed.get(col + 1);
          if (v === NOT_LOGGED) return expect(p, `${name} image ${i} @${col + 1}`).toBeUndefined();
          if (v === null) return expect(p, `${name} image ${i} @${col + 1}`).toBe('NULL');
          if (typeof v === 'bigint') {
            // integers print signed with the unsigned reading in parentheses; SETs as bits
            const bits = /^b'([01]+)'$/.exec(p ?? '');
            const m = /^(-?\d+)(?: \((\d+)\))?$/.exec(p ?? '');
            expect(m ?? bits, `${name} image ${i} @${col + 1}: ${p}`).not.toBeNull();
            const readings = bits ? [String(BigInt(`0b${bits[1]}`))] : [m![1], m![2]];
            expect(readings, `${name} image ${i} @${col + 1}`).toContain(String(v));
            compared++;
          } else if (Buffer.isBuffer(v) && /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/.test(v.toString('latin1')) && p?.startsWith("'")) {
            expect(p, `${name} image ${i} @${col + 1}`).toBe(`'${v.toString('latin1')}'`);
            compared++;
          }
        });
      });
    }
    expect(compared).toBeGreaterThan(50);
  });
});

/** Row images from `mariadb-binlog -vv` output: one map of column number to printed value per image. */
function imagesFromMariadbBinlog(text: string): Array<Map<number, string>> {
  const images: Array<Map<number, string>> = [];
  for (const line of text.split('\n')) {
    if (/^### (WHERE|SET)$/.test(line)) images.push(new Map());
    const m = /^###\s+@(\d+)=(.*?)(?: \/\* .* \*\/)?$/.exec(line);
    if (m) images[images.length - 1]!.set(Number(m[1]), m[2]!);
  }
  return images;
}

export type { BinlogEvent };
