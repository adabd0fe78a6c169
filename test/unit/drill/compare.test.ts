/**
 * What a drill compares: the snapshot's per-table totals (the parts of a split table summed),
 * tables without a checksum or changed by a stream that is not rows left out and named, the
 * tables the log changed left out at an instant, the restored names mapped, and the sentence.
 */
import { describe, expect, it } from 'vitest';
import { rowHasher, type RowChecksum } from '../../../src/backup/row-checksum.js';
import type { DriverModule } from '../../../src/driver/driver-module.js';
import { urlWithDatabase, scratchName } from '../../../src/driver/scratch.js';
import { compareTables, expectedChecksums, mismatchSentence } from '../../../src/drill/compare.js';
import type { SnapshotManifest, StoredTableStream } from '../../../src/repository/repository-api.js';
import { scratchUrl } from '../../../drivers/mongodb/scratch.js';
import { scratch as mysqlScratch } from '../../../drivers/mysql/scratch.js';

const sum = (text: string): RowChecksum => {
  const h = rowHasher('lines');
  h.push(Buffer.from(text));
  return h.end();
};

const stream = (name: string, table: string, checksum?: RowChecksum, bytes = 10): StoredTableStream => ({
  name,
  table,
  format: 'f',
  data: { chunks: [], sizes: [], bytes },
  ...(checksum ? { checksum } : {}),
});

const driver = {
  tableNames: { matcher: () => () => true, partOfEverySelection: (t: string) => t === '$changes' },
} as unknown as DriverModule;

const snap = (streams: StoredTableStream[]): SnapshotManifest =>
  ({ id: 'abcdef0123456789', streams, meta: {} }) as unknown as SnapshotManifest;

describe('drill comparison', () => {
  it('sums the parts of a split table and compares each table with the restored one', () => {
    const e = expectedChecksums(
      driver,
      snap([
        stream('public.a#1', 'public.a', sum('1\tx\n2\ty\n')),
        stream('public.a#2', 'public.a', sum('3\tz\n')),
        stream('public.b', 'public.b', sum('9\tq\n')),
        stream('public.old', 'public.old'),
      ]),
    );
    expect(e.tables.get('public.a')).toEqual(sum('3\tz\n1\tx\n2\ty\n'));
    expect([...e.notComparable]).toEqual([['public.old', 'the snapshot stored no checksum for it']]);
    const restored = new Map([
      ['public.a', sum('2\ty\n3\tz\n1\tx\n')],
      ['public.b', sum('9\tq\n')],
    ]);
    expect(compareTables(e, restored, [], (t) => t)).toEqual({
      compared: ['public.a', 'public.b'],
      notCompared: ['public.old: the snapshot stored no checksum for it'],
      mismatch: undefined,
    });
    // at an instant: the tables the log changed are loaded, not compared; unknown tables: none
    expect(compareTables(e, restored, ['public.b'], (t) => t).notCompared).toEqual([
      'public.b: changed by the log (loaded, not compared)',
      'public.old: the snapshot stored no checksum for it',
    ]);
    expect(compareTables(e, restored, null, (t) => t).compared).toEqual([]);
  });

  it('names the first table that differs, with the rows or the checksum expected and found', () => {
    const e = expectedChecksums(driver, snap([stream('a', 'a', sum('1\n2\n')), stream('b', 'b', sum('1\n'))]));
    const fewer = compareTables(e, new Map([['a', sum('1\n')], ['b', sum('1\n')]]), [], (t) => t);
    expect(mismatchSentence('abcdef0123456789', fewer.mismatch!)).toBe(
      'Table a restored from snapshot abcdef012345 does not match the checksum the snapshot stored: expected 2 rows, found 1.',
    );
    const other = compareTables(e, new Map([['a', sum('1\n2\n')], ['b', sum('2\n')]]), [], (t) => t);
    expect(mismatchSentence('abcdef0123456789', other.mismatch!)).toBe(
      `Table b restored from snapshot abcdef012345 does not match the checksum the snapshot stored: expected 1 rows with checksum ${sum('1\n').sum}, found 1 rows with checksum ${sum('2\n').sum}.`,
    );
    const missing = compareTables(e, new Map([['a', sum('1\n2\n')]]), [], (t) => t);
    expect(missing.mismatch).toMatchObject({ table: 'b', found: { rows: 0 } });
  });

  it('compares nothing when a change tail changed the tables while they were read', () => {
    const tail = { ...stream('$changes', '$changes'), format: 'tail' };
    const quiet = expectedChecksums(driver, snap([stream('c', 'c', sum('x\n')), { ...tail, data: { ...tail.data, bytes: 0 } }]));
    expect([...quiet.tables.keys()]).toEqual(['c']);
    const busy = expectedChecksums(driver, snap([stream('c', 'c', sum('x\n')), tail]));
    expect([...busy.notComparable]).toEqual([['c', 'changed while the snapshot was read (its change tail)']]);
  });

  it('scratch names and URLs: the database replaced, credentials and options kept', () => {
    expect(scratchName(new Date('2026-12-05T23:04:05.678Z'))).toBe('crmb_drill_20261205230405');
    expect(urlWithDatabase('postgres://u:p%40ss@h:5432/postgres?sslmode=require', 'crmb_drill_1')).toBe(
      'postgres://u:p%40ss@h:5432/crmb_drill_1?sslmode=require',
    );
    expect(urlWithDatabase('mysql://u@h', 'd')).toBe('mysql://u@h/d');
    // MongoDB: the user still authenticates against the database the URL named
    expect(scratchUrl('mongodb://u:pw@a:27017,b:27017/crm?replicaSet=rs', 'crmb_drill_1')).toBe(
      'mongodb://u:pw@a:27017,b:27017/crmb_drill_1?replicaSet=rs&authSource=crm',
    );
    expect(scratchUrl('mongodb://a/crm', 'x')).toBe('mongodb://a/x');
    expect(mysqlScratch.restoredName!('crm.contacts', { database: 'crm' }, 'mysql://u@h/crmb_drill_1')).toBe(
      'crmb_drill_1.contacts',
    );
  });
});
