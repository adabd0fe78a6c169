/**
 * `--tables` restores of MongoDB collections, without a server: every selection loads the
 * snapshot's change tail (`$changes`, which makes any subset consistent) while a name that selects
 * no collection is still refused; the replay keeps the changes of the selected collections only,
 * and a rename across the edge of the selection is refused in one sentence (its documents would
 * be lost to the restore, or never loaded), while one inside it, or out of the database, is replayed.
 */
import { BSON, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { selectRecord } from '../../../drivers/mongodb/apply.js';
import { decodePayload, type ChangeRecord } from '../../../drivers/mongodb/internal/payload.js';
import { tableNames, TAIL_STREAM } from '../../../drivers/mongodb/names.js';
import { namesMatchingNone } from '../../../src/driver/unmatched-names.js';
import { assemble } from './support/replay.js';

let n = 0;
const hex = (x: number): string => x.toString(16).toUpperCase().padStart(8, '0');

/** One change event of database `crm`, through assembly and the payload, as the replay reads it. */
function record(event: Record<string, unknown>): ChangeRecord {
  const t = 1_700_000_000;
  const i = ++n;
  const raw = BSON.serialize({
    _id: { _data: `82${hex(t)}${hex(i)}04` },
    clusterTime: new Timestamp({ t, i }),
    ...event,
  });
  const [part] = assemble([raw], 'crm');
  return decodePayload(part!.payload).records[0]!;
}

const insert = (coll: string): ChangeRecord =>
  record({
    operationType: 'insert',
    ns: { db: 'crm', coll },
    documentKey: { _id: 1 },
    fullDocument: { _id: 1 },
  });
const rename = (from: { db: string; coll: string }, to: { db: string; coll: string }): ChangeRecord =>
  record({ operationType: 'rename', ns: from, to, operationDescription: { to } });

describe('which streams a --tables restore loads', () => {
  it('the change tail with any selection; a name that selects nothing is still refused', () => {
    const stored = ['contacts', 'deals', TAIL_STREAM];
    const wanted = tableNames.matcher(['contacts']);
    expect(stored.filter((t) => wanted(t) || tableNames.partOfEverySelection?.(t))).toEqual([
      'contacts',
      TAIL_STREAM,
    ]);
    expect(namesMatchingNone(tableNames, ['contacts', 'nosuch'], stored)).toEqual(['nosuch']);
  });
});

describe('which changes a --tables restore replays', () => {
  const tables = new Set(['contacts', 'deals']);

  it('those of the selected collections, and a dropDatabase', () => {
    expect(selectRecord(insert('contacts'), 'crm', tables)).toBe(true);
    expect(selectRecord(insert('notes'), 'crm', tables)).toBe(false);
    expect(selectRecord(record({ operationType: 'dropDatabase', ns: { db: 'crm' } }), 'crm', tables)).toBe(
      true,
    );
    expect(
      selectRecord(record({ operationType: 'drop', ns: { db: 'crm', coll: 'notes' } }), 'crm', tables),
    ).toBe(false);
  });

  it('a rename inside the selection, out of the database, or between other collections', () => {
    const inside = rename({ db: 'crm', coll: 'contacts' }, { db: 'crm', coll: 'deals' });
    expect(selectRecord(inside, 'crm', tables)).toBe(true);
    expect(
      selectRecord(rename({ db: 'crm', coll: 'deals' }, { db: 'archive', coll: 'deals' }), 'crm', tables),
    ).toBe(true);
    expect(selectRecord(rename({ db: 'crm', coll: 'a' }, { db: 'crm', coll: 'b' }), 'crm', tables)).toBe(
      false,
    );
  });

  it('refuses a rename out of the selection or into it, in one sentence', () => {
    const out = rename({ db: 'crm', coll: 'contacts' }, { db: 'crm', coll: 'people' });
    expect(selectRecord(out, 'crm', tables)).toBe(
      `Collection contacts, which --tables restores, was renamed to people at cluster time ${out.ct.t}.${out.ct.i}, which it does not restore, so its later changes would be left out; restore without --tables, or to a time before the rename.`,
    );
    const into = rename({ db: 'crm', coll: 'staging' }, { db: 'crm', coll: 'deals' });
    expect(selectRecord(into, 'crm', tables)).toBe(
      `Collection staging, which --tables does not restore, was renamed to deals at cluster time ${into.ct.t}.${into.ct.i}, bringing documents this restore never loaded; restore without --tables, or to a time before the rename.`,
    );
    const fromOther = rename({ db: 'import', coll: 'deals' }, { db: 'crm', coll: 'deals' });
    expect(selectRecord(fromOther, 'crm', tables)).toBe(
      `Collection import.deals, which --tables does not restore, was renamed to deals at cluster time ${fromOther.ct.t}.${fromOther.ct.i}, bringing documents this restore never loaded; restore without --tables, or to a time before the rename.`,
    );
  });
});
