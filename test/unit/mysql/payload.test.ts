import { describe, expect, it } from 'vitest';
import { ColumnType, NOT_LOGGED, type ColumnValue } from '../../../drivers/mysql/binlog/types.js';
import {
  decodeHeader,
  decodePayload,
  decodeValue,
  encodeValue,
  PayloadBuilder,
  type PayloadTable,
} from '../../../drivers/mysql/internal/payload.js';

const TABLE: PayloadTable = {
  database: 'crm',
  table: 'contacts',
  columns: [
    { name: 'id', type: ColumnType.LONGLONG, meta: 0, unsigned: true, collation: null },
    { name: 'name', type: ColumnType.VARCHAR, meta: 1020, unsigned: false, collation: 224 },
    { name: 'f', type: ColumnType.FLOAT, meta: 4, unsigned: false, collation: null },
  ],
  primaryKey: [0],
};

/** One value of every kind types.ts defines, with the edge cases that break naive encodings. */
const VALUES: ColumnValue[] = [
  NOT_LOGGED,
  null,
  0n,
  -9223372036854775808n,
  18446744073709551615n,
  0,
  -0,
  Math.fround(1.1),
  5e-324,
  1.7976931348623157e308,
  2026,
  'the string',
  '',
  '-123.4500',
  '0000-00-00 00:00:00',
  '{"a": [1, "é"]}',
  Buffer.alloc(0),
  Buffer.from('héllo ünï 😀', 'utf8'),
  Buffer.from([0xef, 0xbb, 0xbf, 0x41]), // a BOM that a decoder could strip
  Buffer.from([0xff, 0x00, 0xc3]), // not UTF-8
  Buffer.from([0x00]),
];

function same(a: ColumnValue, b: ColumnValue): boolean {
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b))
    return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  return Object.is(a, b);
}

describe('mysql-changes/1 payload', () => {
  it('round-trips every value kind exactly, NOT_LOGGED apart from NULL and -0 apart from 0', () => {
    for (const v of VALUES) {
      const back = decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));
      expect(same(back, v), `${String(v)} came back as ${String(back)}`).toBe(true);
      expect(typeof back).toBe(typeof v);
    }
    expect(decodeValue(encodeValue(NOT_LOGGED))).not.toBe(null);
    expect(Object.is(decodeValue(encodeValue(-0)), -0)).toBe(true);
  });

  it('round-trips rows, tables and statements, every part self-describing', () => {
    const b = new PayloadBuilder({ database: 'crm', gtid: '0-1-57', part: 3, internal: false });
    const row = (i: number): ColumnValue[] => [BigInt(i), Buffer.from(`n${i}`), Math.fround(i / 3)];
    b.insert(TABLE, row(1));
    b.update(TABLE, row(1), [1n, NOT_LOGGED, null]);
    b.delete(TABLE, row(2));
    b.statement({
      database: 'crm',
      sql: 'ALTER TABLE contacts ADD COLUMN `x\ny` int',
      sqlMode: 1436549152n,
      timeZone: '+00:00',
      charset: { client: 45, connection: 224, server: 8 },
      tables: ['crm.contacts'],
    });
    expect(b.changes).toBe(3);
    expect([...b.tables]).toEqual(['crm.contacts']);
    const payload = b.finish();
    expect(decodeHeader(payload)).toEqual({ database: 'crm', gtid: '0-1-57', part: 3, internal: false });
    const records = [...decodePayload(payload)];
    expect(records.map((r) => r.kind)).toEqual(['insert', 'update', 'delete', 'statement']);
    const [ins, upd, del, st] = records;
    expect(ins?.kind === 'insert' && ins.table).toEqual(TABLE);
    expect(ins?.kind === 'insert' && ins.after).toEqual(row(1));
    expect(upd?.kind === 'update' && upd.after[1]).toBe(NOT_LOGGED);
    expect(upd?.kind === 'update' && upd.after[2]).toBe(null);
    expect(del?.kind === 'delete' && del.before).toEqual(row(2));
    expect(st?.kind === 'statement' && st.statement).toEqual({
      database: 'crm',
      sql: 'ALTER TABLE contacts ADD COLUMN `x\ny` int',
      sqlMode: 1436549152n,
      timeZone: '+00:00',
      charset: { client: 45, connection: 224, server: 8 },
      tables: ['crm.contacts'],
    });
  });

  it('records where the source had foreign key checks off, only where the state changes', () => {
    const b = new PayloadBuilder({ database: 'crm', gtid: '', part: 0, internal: false });
    const row = (i: number): ColumnValue[] => [BigInt(i), null, null];
    b.foreignKeyChecks(true);
    b.insert(TABLE, row(1));
    b.foreignKeyChecks(false);
    b.delete(TABLE, row(1));
    b.foreignKeyChecks(false);
    b.insert(TABLE, row(2));
    b.foreignKeyChecks(true);
    b.insert(TABLE, row(3));
    const kinds = [...decodePayload(b.finish())].map((r) =>
      r.kind === 'foreign-key-checks' ? `checks ${r.on ? 'on' : 'off'}` : r.kind,
    );
    expect(kinds).toEqual(['insert', 'checks off', 'delete', 'insert', 'checks on', 'insert']);
    // a part whose rows all had them on carries no such line (the default)
    const plain = new PayloadBuilder({ database: 'crm', gtid: '', part: 0, internal: false });
    plain.foreignKeyChecks(true);
    plain.insert(TABLE, row(1));
    expect(Buffer.from(plain.finish()).toString()).not.toMatch(/\["F"/);
  });

  it('refuses a payload of another format and a row of an undescribed table', () => {
    expect(() => [...decodePayload(Buffer.from('{"format":"pg-changes/1","xid":1,"part":0}'))]).toThrow(
      /mysql-changes\/1 payload is damaged: its header names format "pg-changes\/1"/,
    );
    const damaged = Buffer.from(
      '{"format":"mysql-changes/1","db":"crm","gtid":"","part":0,"internal":0}\n["I",4,[null]]',
    );
    expect(() => [...decodePayload(damaged)]).toThrow(/table 4 is used before it is described/);
  });
});
