import { describe, expect, it } from 'vitest';
import { ColumnType, NOT_LOGGED } from '../../../drivers/mysql/binlog/types.js';
import { PayloadBuilder, type PayloadTable } from '../../../drivers/mysql/internal/payload.js';
import { transactions } from '../../../drivers/mysql/transactions.js';
import type { Transaction } from '../../../src/driver/source-driver.js';

const T: PayloadTable = {
  database: 'crm',
  table: 'contacts',
  primaryKey: [0],
  columns: [
    { name: 'id', type: ColumnType.LONG, meta: 0, unsigned: false, collation: null },
    { name: 'name', type: ColumnType.VARCHAR, meta: 80, unsigned: false, collation: 45 },
    { name: 'raw', type: ColumnType.VARCHAR, meta: 10, unsigned: false, collation: null },
  ],
};

function part(gtid: string, build: (b: PayloadBuilder) => void, internal = false): Transaction {
  const b = new PayloadBuilder({ database: 'crm', gtid, part: 0, internal });
  build(b);
  return { position: 'binlog.000012:1234#0-1-57', commitTime: 0n, payload: b.finish(), changes: b.changes };
}

describe('MySQL/MariaDB stored transactions', () => {
  it('summarizes counts per table, statements and the GTID@position reference', () => {
    const p = part('0-1-57', (b) => {
      b.insert(T, [1n, Buffer.from('a'), null]);
      b.insert(T, [2n, Buffer.from('b'), null]);
      b.update(T, [1n, Buffer.from('a'), null], [1n, Buffer.from('c'), null]);
      b.delete(T, [2n, Buffer.from('b'), null]);
      b.statement({
        database: 'crm',
        sql: 'ALTER TABLE contacts\n  ADD COLUMN x int',
        sqlMode: null,
        timeZone: null,
        charset: null,
        tables: ['crm.contacts'],
      });
    });
    expect(transactions.summarize(p)).toEqual({
      ref: '0-1-57@binlog.000012:1234',
      tables: [{ table: 'crm.contacts', inserts: 2, updates: 1, deletes: 1, truncates: 0 }],
      statements: ['ALTER TABLE contacts ADD COLUMN x int'],
      internal: false,
    });
    const marker = part('0-1-58', () => {}, true);
    expect(transactions.summarize(marker).internal).toBe(true);
    expect(transactions.summarize(part('', () => {})).ref).toBe('binlog.000012:1234');
  });

  it('shows row changes with keys, changed columns and binary values', () => {
    const p = part('0-1-57', (b) => {
      b.insert(T, [1n, Buffer.from('é'), Buffer.from([0xff])]);
      b.update(T, [1n, Buffer.from('é'), Buffer.from([0xff])], [1n, Buffer.from('new'), Buffer.from([0xff])]);
      b.update(T, [1n, NOT_LOGGED, NOT_LOGGED], [1n, Buffer.from('x'), NOT_LOGGED]);
      b.delete(T, [1n, Buffer.from('new'), null]);
    });
    const rows = [...transactions.changes(p)];
    expect(rows[0]).toEqual({
      table: 'crm.contacts',
      op: 'insert',
      key: { id: '1' },
      columns: [
        { name: 'id', new: '1' },
        { name: 'name', new: 'é' },
        { name: 'raw', new: '\\xff' },
      ],
    });
    expect(rows[1]).toEqual({
      table: 'crm.contacts',
      op: 'update',
      key: { id: '1' },
      columns: [{ name: 'name', old: 'é', new: 'new' }],
    });
    expect(rows[2]?.missing).toMatch(/binlog_row_image/);
    expect(rows[3]).toEqual({
      table: 'crm.contacts',
      op: 'delete',
      key: { id: '1' },
      columns: [
        { name: 'name', old: 'new' },
        { name: 'raw', old: null },
      ],
    });
  });

  it('reads references back, and refuses a bare GTID or text that is none with an example', () => {
    expect(transactions.parseReference(' 0-1-57@binlog.000012:1234 ')).toEqual({
      position: 'binlog.000012:1234',
      ref: '0-1-57@binlog.000012:1234',
    });
    const uuid = '3E11FA47-71CA-11E1-9E33-C80AA9429562:57';
    expect(transactions.parseReference(`${uuid}@binlog.000003:99`).ref).toBe(
      `${uuid.toLowerCase()}@binlog.000003:99`,
    );
    expect(transactions.parseReference('binlog.000003:99')).toEqual({
      position: 'binlog.000003:99',
      ref: 'binlog.000003:99',
    });
    expect(() => transactions.parseReference('0-1-57')).toThrow(
      /is a GTID alone.*like 0-1-57@binlog\.000012:1234/,
    );
    expect(() => transactions.parseReference('745@0/16B3748')).toThrow(
      /is not a MySQL\/MariaDB transaction reference/,
    );
  });
});
