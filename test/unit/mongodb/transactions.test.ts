/** `crm-backup log` for MongoDB: references, per-collection counts and row changes of stored parts. */
import { BSON, Binary, Long, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { comparePositions } from '../../../drivers/mongodb/internal/position.js';
import { transactions } from '../../../drivers/mongodb/transactions.js';
import { streamPipeline } from '../../../drivers/mongodb/change-log.js';
import { assemble } from './support/replay.js';

const lsid = {
  id: new Binary(Buffer.from('0aafbcfa767e11e9bda7abcaf4112df6', 'hex'), 4),
  uid: new Binary(Buffer.alloc(32), 0),
};
let n = 0;
function ev(op: string, t: number, i: number, rest: Record<string, unknown>, coll = 'people'): Uint8Array {
  const hex = (x: number): string => x.toString(16).toUpperCase().padStart(8, '0');
  return BSON.serialize({
    _id: { _data: `82${hex(t)}${hex(i)}2B04${hex(n++)}04` },
    operationType: op,
    clusterTime: new Timestamp({ t, i }),
    wallTime: new Date(t * 1000),
    ns: { db: 'crm', coll },
    ...rest,
  });
}

describe('MongoDB stored transactions in crm-backup log', () => {
  const parts = assemble(
    [
      ev('insert', 1700000000, 3, {
        lsid,
        txnNumber: Long.fromNumber(7),
        documentKey: { _id: 1 },
        fullDocument: { _id: 1, name: 'Ada' },
      }),
      ev('update', 1700000000, 3, {
        lsid,
        txnNumber: Long.fromNumber(7),
        documentKey: { _id: 2 },
        updateDescription: { updatedFields: { city: 'Lyon' }, removedFields: ['owner'], truncatedArrays: [] },
      }),
      ev('delete', 1700000000, 4, { documentKey: { _id: 3 } }, 'deals'),
      ev('createIndexes', 1700000000, 5, {
        operationDescription: { indexes: [{ v: 2, key: { city: 1 }, name: 'city_1' }] },
      }),
    ],
    'crm',
  );

  it('a transaction is named by session, number and cluster time; other changes by cluster time', () => {
    expect(parts.map((p) => transactions.summarize({ ...p }).ref)).toEqual([
      '0aafbcfa-767e-11e9-bda7-abcaf4112df6:7@1700000000.3',
      '1700000000.4',
      '1700000000.5',
    ]);
    expect(transactions.summarize({ ...parts[0]! }).tables).toEqual([
      { table: 'people', inserts: 1, updates: 1, deletes: 0, truncates: 0 },
    ]);
    expect(transactions.summarize({ ...parts[2]! }).statements).toEqual(['createIndexes people']);
  });

  it('reads a reference back to the stored position', () => {
    const r = transactions.parseReference(' 0AAFBCFA-767E-11E9-BDA7-ABCAF4112DF6:7@1700000000.3 ');
    expect(r.ref).toBe('0aafbcfa-767e-11e9-bda7-abcaf4112df6:7@1700000000.3');
    expect(comparePositions(r.position, parts[0]!.position)).toBe(0);
    expect(transactions.parseReference('1700000000.4')).toEqual({
      position: '1700000000.4',
      ref: '1700000000.4',
    });
    expect(() => transactions.parseReference('abc')).toThrow(
      '"abc" is not a MongoDB transaction reference; copy one from "crm-backup log", like 0aafbcfa-767e-11e9-bda7-abcaf4112df6:1@1700000000.3 (session:transaction number@cluster time) or 1700000000.3 (a cluster time).',
    );
  });

  it('shows the changed fields of an update and says the old values are not in the log', () => {
    const rows = [...transactions.changes({ ...parts[0]! })];
    expect(rows[0]).toEqual({
      table: 'people',
      op: 'insert',
      key: { _id: '1' },
      columns: [
        { name: '_id', new: '1' },
        { name: 'name', new: 'Ada' },
      ],
    });
    expect(rows[1]).toMatchObject({
      op: 'update',
      key: { _id: '2' },
      columns: [
        { name: 'city', new: 'Lyon' },
        { name: 'owner', new: null },
      ],
      missing:
        'The change stream holds the changed fields of people (removed ones as null), not their old values.',
    });
  });

  it('the stream watches the deployment with expanded events, filtered to the database and the markers', () => {
    expect(streamPipeline('crm', { startAfter: { _data: '82AA' } }, true)).toEqual([
      {
        $changeStream: {
          allChangesForCluster: true,
          showExpandedEvents: true,
          startAfter: { _data: '82AA' },
        },
      },
      {
        $match: {
          $or: [
            { 'ns.db': 'crm' },
            { 'to.db': 'crm' },
            { 'ns.db': 'crmb', 'ns.coll': 'heartbeat' },
            { operationType: 'invalidate' },
          ],
        },
      },
      { $changeStreamSplitLargeEvent: {} },
    ]);
  });
});
