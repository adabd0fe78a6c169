/**
 * The MongoDB driver's later features against the replica set CRMB_TEST_MONGODB_URL names; with no
 * such server nothing here runs (the global setup prints the one line saying so). Restores are
 * compared with their source byte for byte (raw BSON of every document, in _id order):
 *  - a large collection read in `_id` ranges (`contacts#1` … `#4`), its `_id`s of mixed BSON types,
 *    and the parts loaded side by side;
 * NOT RUN on the machine this was written on: no MongoDB server exists there.
 */
import { Decimal128, Double, Int32, Long, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitting } from '../../drivers/mongodb/snapshot.js';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { registry } from '../../src/driver/registry.js';
import { memoryLogger } from '../../src/util/log.js';
import { mongoDatabaseUrl, mongoTestUrl } from '../conformance/mongodb.factory.js';
import { rawState, withMongo } from '../helpers/mongodb.js';
import { restoreInto, tempRepo, type TempRepo } from '../helpers/pitr.js';

let seq = 0;

/** An _id of one of several BSON types, by k: numbers of four types, strings, ObjectIds, documents, dates. */
function mixedId(k: number): unknown {
  switch (k % 8) {
    case 0:
      return new Int32(k);
    case 1:
      return Long.fromNumber(k * 1000);
    case 2:
      return new Double(k + 0.5);
    case 3:
      return Decimal128.fromString(`${k}.25`);
    case 4:
      return `contact-${k}`;
    case 5:
      return ObjectId.createFromTime(1_700_000_000 + k);
    case 6:
      return { account: new Int32(k % 13), seq: new Int32(k) };
    default:
      return new Date(Date.UTC(2024, 0, 1) + k * 60_000);
  }
}

describe.skipIf(!mongoTestUrl)('MongoDB features (real server)', () => {
  let tr: TempRepo;
  let driver: DriverModule;
  const dbs: string[] = [];
  const fresh = (label: string): string => {
    const n = `feat_${label}_${process.pid}_${++seq}`;
    dbs.push(n);
    return mongoDatabaseUrl(n);
  };

  beforeAll(async () => {
    tr = await tempRepo();
    driver = await registry.forUrl(mongoTestUrl);
  });
  afterAll(async () => {
    for (const n of dbs)
      await withMongo(mongoDatabaseUrl(n), (db) => db.dropDatabase()).catch(() => undefined);
    await tr?.dispose();
  });

  it('a large collection is read in _id ranges covering every _id type once, and restored whole', async () => {
    const src = fresh('split_src');
    await withMongo(src, async (db) => {
      const docs = Array.from({ length: 4000 }, (_, k) => ({ _id: mixedId(k), n: new Int32(k) }));
      await db.collection('contacts').insertMany(docs as never[]);
      await db.collection('accounts').insertOne({ _id: new Int32(1) } as never);
    });
    const before = splitting.minDocuments;
    splitting.minDocuments = 1000;
    let id: string;
    try {
      const log = memoryLogger();
      ({ id } = await runSnapshot({ repo: tr.repo, driver, sourceUrl: src, name: 'split', tags: [], jobs: 4, log }));
    } finally {
      splitting.minDocuments = before;
    }
    const snap = (await tr.repo.listSnapshots({ source: 'split' })).find((s) => s.id === id)!;
    const parts = snap.streams.filter((s) => s.table === 'contacts');
    expect(parts.map((s) => s.name)).toEqual(['contacts#1', 'contacts#2', 'contacts#3', 'contacts#4']);
    expect(parts.reduce((n, s) => n + (s.rows ?? 0), 0)).toBe(4000);
    expect(snap.streams.find((s) => s.table === 'accounts')?.name).toBe('accounts');
    const dst = fresh('split_dst');
    const summary = await restoreInto(tr.repo, driver, 'split', { kind: 'snapshot', id }, dst, { jobs: 4 });
    expect(summary.rows).toBe(4001);
    expect(await rawState(dst)).toEqual(await rawState(src));
  });
});
