/**
 * Which changes recorded while a snapshot reads its collections (the `$changes` tail) leave it
 * inconsistent, so that the snapshot refuses instead of storing something no restore can make
 * exact: a rename of a collection it reads, and a rename into the database from another one
 * (its documents were never read; a restore of the snapshot alone would lack the collection).
 */
import { BSON, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { decodePayload, type ChangeRecord } from '../../../drivers/mongodb/internal/payload.js';
import { tailRefusal } from '../../../drivers/mongodb/snapshot.js';
import { assemble } from './support/replay.js';

let n = 0;
function rename(from: { db: string; coll: string }, to: { db: string; coll: string }): ChangeRecord {
  const t = 100;
  const i = ++n;
  const hex = (x: number): string => x.toString(16).toUpperCase().padStart(8, '0');
  const event = BSON.serialize({
    _id: { _data: `82${hex(t)}${hex(i)}04` },
    operationType: 'rename',
    clusterTime: new Timestamp({ t, i }),
    ns: from,
    to,
    operationDescription: { to },
  });
  const [part] = assemble([event], 'crm');
  const [record] = decodePayload(part!.payload).records;
  return record!;
}

describe('the snapshot tail', () => {
  const read = new Set(['contacts', 'deals']);

  it('refuses a rename of a collection the snapshot reads', () => {
    expect(
      tailRefusal(rename({ db: 'crm', coll: 'deals' }, { db: 'crm', coll: 'old_deals' }), 'crm', read),
    ).toBe(
      'Collection deals was renamed while the snapshot read it, so the snapshot cannot be made consistent; run the snapshot again.',
    );
  });

  it('refuses a rename into the database from another one', () => {
    expect(
      tailRefusal(rename({ db: 'staging', coll: 'leads' }, { db: 'crm', coll: 'leads' }), 'crm', read),
    ).toBe(
      'Collection staging.leads was renamed into crm as leads while the snapshot read it; its documents were never read, so the snapshot cannot be made consistent; run the snapshot again.',
    );
  });

  it('accepts a rename of a collection created while it read (the tail creates it), and out of the database', () => {
    expect(
      tailRefusal(rename({ db: 'crm', coll: 'tmp' }, { db: 'crm', coll: 'imports' }), 'crm', read),
    ).toBeUndefined();
    expect(
      tailRefusal(rename({ db: 'crm', coll: 'tmp' }, { db: 'archive', coll: 'tmp' }), 'crm', read),
    ).toBeUndefined();
  });
});
