/**
 * How the PostgreSQL driver shows a stored transaction: its xid@LSN reference, counts per table
 * without parsing row lines, and row changes with old values where the log holds them.
 */
import { describe, expect, it } from 'vitest';
import { transactions } from '../../../drivers/postgres/transactions.js';
import type { Transaction } from '../../../src/driver/source-driver.js';
import { INT4, TEXT, relation } from '../../helpers/pg-payload.js';

const POSITION = '0000000100A2B3C4'; // LSN 1/A2B3C4

function part(records: unknown[][], xid = 745): Transaction {
  const lines = [{ format: 'pg-changes/1', xid, part: 0 }, ...records];
  return {
    position: POSITION,
    commitTime: 1n,
    payload: Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n'), 'utf8'),
    changes: records.filter((r) => ['I', 'U', 'D'].includes(r[0] as string)).length,
  };
}

const contacts = (identity: 'd' | 'f') =>
  relation(16384, 'contacts', identity, [
    ['id', INT4, 1],
    ['owner_id', INT4, 0],
    ['city', TEXT, 0],
  ]);
const deals = relation(16390, 'deals', 'd', [
  ['id', INT4, 1],
  ['stage', TEXT, 0],
]);

describe('PostgreSQL stored transactions', () => {
  it('summarizes a part: xid@LSN, inserts, updates, deletes and truncates per table', () => {
    const s = transactions.summarize(
      part([
        contacts('d'),
        ['U', 16384, ['1', null, 'Lyon'], null, null],
        ['U', 16384, ['2', null, 'Lyon'], null, null],
        deals,
        ['I', 16390, ['7', 'won']],
        ['D', 16390, 'K', ['8', null]],
        ['T', [16390], 0, 1],
      ]),
    );
    expect(s).toEqual({
      ref: '745@1/A2B3C4',
      tables: [
        { table: 'public.contacts', inserts: 0, updates: 2, deletes: 0, truncates: 0 },
        { table: 'public.deals', inserts: 1, updates: 0, deletes: 1, truncates: 1 },
      ],
      statements: [],
      internal: false,
    });
  });

  it("marks crm-backup's idle markers and sequence records internal, and shows captured DDL", () => {
    expect(transactions.summarize(part([['M', 'crmb.marker', 1, '', null]])).internal).toBe(true);
    expect(
      transactions.summarize(part([['M', 'crmb.sequences', 1, '{"public.s":"5"}', null]])).internal,
    ).toBe(true);
    const ddl = transactions.summarize(
      part([
        [
          'M',
          'crmb.ddl',
          1,
          JSON.stringify({ sql: 'ALTER TABLE contacts\n  ADD COLUMN city text', tag: 'ALTER TABLE' }),
          null,
        ],
      ]),
    );
    expect(ddl).toMatchObject({ internal: false, statements: ['ALTER TABLE contacts ADD COLUMN city text'] });
  });

  it('shows an UPDATE under REPLICA IDENTITY DEFAULT as its key and new values, saying the old ones are not in the log', () => {
    const [row] = [
      ...transactions.changes(part([contacts('d'), ['U', 16384, ['17', null, 'Lyon'], null, null]])),
    ];
    expect(row).toEqual({
      table: 'public.contacts',
      op: 'update',
      key: { id: '17' },
      columns: [
        { name: 'owner_id', new: null },
        { name: 'city', new: 'Lyon' },
      ],
      missing:
        'The log holds only the key of the old row of public.contacts (REPLICA IDENTITY DEFAULT); ALTER TABLE public.contacts REPLICA IDENTITY FULL makes it keep old values from then on.',
    });
  });

  it('shows an UPDATE under REPLICA IDENTITY FULL as the changed columns, old and new; unchanged TOAST values are left out', () => {
    const [row] = [
      ...transactions.changes(
        part([contacts('f'), ['U', 16384, ['17', null, false], 'O', ['17', '5', 'Lyon']]]),
      ),
    ];
    expect(row).toEqual({
      table: 'public.contacts',
      op: 'update',
      key: { id: '17' },
      columns: [{ name: 'owner_id', old: '5', new: null }],
    });
  });

  it('shows a key change with the old key, and a DELETE with the key it holds', () => {
    const rows = [
      ...transactions.changes(
        part([
          contacts('d'),
          ['U', 16384, ['18', '3', 'Paris'], 'K', ['17', null, null]],
          ['D', 16384, 'K', ['18', null, null]],
        ]),
      ),
    ];
    expect(rows[0]).toMatchObject({
      key: { id: '17' },
      columns: [
        { name: 'id', old: '17', new: '18' },
        { name: 'owner_id', new: '3' },
        { name: 'city', new: 'Paris' },
      ],
    });
    expect(rows[1]).toMatchObject({ op: 'delete', key: { id: '18' }, columns: [] });
  });

  it('reads a reference back to its position, and refuses anything else with an example', () => {
    expect(transactions.parseReference('745@1/a2b3c4')).toEqual({ position: POSITION, ref: '745@1/A2B3C4' });
    expect(() => transactions.parseReference('0/16B3748')).toThrow(
      '"0/16B3748" is not a PostgreSQL transaction reference; copy one from "crm-backup log", like 745@0/16B3748 (xid@commit LSN).',
    );
  });
});
