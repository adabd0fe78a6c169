/**
 * The MongoDB driver's later features against the replica set CRMB_TEST_MONGODB_URL names; with no
 * such server nothing here runs (the global setup prints the one line saying so). Restores are
 * compared with their source byte for byte (raw BSON of every document, in _id order):
 *  - a large collection read in `_id` ranges (`contacts#1` … `#4`), its `_id`s of mixed BSON types,
 *    and the parts loaded side by side;
 *  - users and roles behind --with-privileges: restored into another database with their
 *    credentials (the user logs in with its password there), and left alone where they exist;
 *  - a --tables restore to a point in time: the named collections equal the source's, no other
 *    collection exists, and a rename out of the selection is refused in its one sentence;
 * NOT RUN on the machine this was written on: no MongoDB server exists there.
 */
import { Decimal128, Double, Int32, Long, MongoClient, ObjectId } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitting } from '../../drivers/mongodb/snapshot.js';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { registry } from '../../src/driver/registry.js';
import { memoryLogger } from '../../src/util/log.js';
import { mongoDatabaseUrl, mongoFactory, mongoTestUrl } from '../conformance/mongodb.factory.js';
import { rawState, withMongo } from '../helpers/mongodb.js';
import { restoreInto, startStream, takeSnapshot, tempRepo, type TempRepo } from '../helpers/pitr.js';
import { restore } from '../../src/restore/restore.js';

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
      ({ id } = await runSnapshot({
        repo: tr.repo,
        driver,
        sourceUrl: src,
        name: 'split',
        tags: [],
        jobs: 4,
        log,
      }));
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

  it('users and roles (--with-privileges) are restored into another database, credentials and all', async () => {
    const src = fresh('users_src');
    const srcDb = new URL(src.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1);
    await withMongo(src, async (db) => {
      await db.collection('audit').insertOne({ _id: new Int32(1) } as never);
      await db.command({
        createRole: 'crmReader',
        privileges: [{ resource: { db: srcDb, collection: '' }, actions: ['find'] }],
        roles: [],
      });
      await db.command({
        createRole: 'crmAuditor',
        privileges: [],
        roles: [{ role: 'crmReader', db: srcDb }],
      });
      await db.command({ createUser: 'app', pwd: 'app-pw-123', roles: [{ role: 'crmAuditor', db: srcDb }] });
    });
    const log = memoryLogger();
    const { id } = await runSnapshot({
      repo: tr.repo,
      driver,
      sourceUrl: src,
      name: 'users',
      tags: [],
      jobs: 2,
      withPrivileges: true,
      log,
    });
    const dst = fresh('users_dst');
    const dstDb = new URL(dst.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1);
    await restoreInto(tr.repo, driver, 'users', { kind: 'snapshot', id }, dst);
    const info = await withMongo(dst, (db) => db.command({ usersInfo: 'app' }));
    expect(info.users[0].roles).toEqual([{ role: 'crmAuditor', db: dstDb }]);
    const roles = await withMongo(dst, (db) => db.command({ rolesInfo: 'crmAuditor' }));
    expect(roles.roles[0].roles).toEqual([{ role: 'crmReader', db: dstDb }]);
    // the stored SCRAM credentials: the password of the source opens the restored user
    const login = (pw: string): Promise<unknown> => {
      const u = new URL(mongoTestUrl.replace(/^mongodb:/, 'http:'));
      u.username = 'app';
      u.password = pw;
      u.pathname = `/${dstDb}`;
      const c = new MongoClient(u.toString().replace(/^http:/, 'mongodb:'), {
        serverSelectionTimeoutMS: 5000,
      });
      return c.connect().finally(() => c.close());
    };
    await expect(login('app-pw-123')).resolves.toBeDefined();
    await expect(login('wrong')).rejects.toThrow(/Authentication failed/);
    // again into the same database (--clean drops collections, never users): left alone, said so
    const again = memoryLogger();
    await restore({
      repo: tr.repo,
      targetUrl: dst,
      source: 'users',
      target: { kind: 'snapshot', id },
      jobs: 2,
      clean: true,
      log: again,
      drivers: { byKind: async () => driver, forUrl: async () => driver },
    });
    expect(again.events.map((e) => e.message)).toContain(
      `User app already exists in database ${dstDb}; it was left as it is (its password and roles were not changed).`,
    );
  });

  it('--tables restores the named collections to a point in time, and refuses a rename out of them', async () => {
    const src = fresh('tables_src');
    await withMongo(src, async (db) => {
      for (const c of ['contacts', 'deals', 'notes'])
        await db.collection(c).insertMany([1, 2, 3].map((k) => ({ _id: new Int32(k), c })) as never[]);
    });
    const stream = startStream(tr.repo, driver, src, 'tables', 1);
    await stream.started;
    await takeSnapshot(tr.repo, driver, src, 'tables');
    await withMongo(src, async (db, client) => {
      const s = client.startSession();
      await s.withTransaction(async () => {
        await db
          .collection('contacts')
          .updateOne({ _id: 1 } as never, { $set: { v: new Int32(1) } }, { session: s });
        await db.collection('notes').deleteOne({ _id: 1 } as never, { session: s });
        await db.collection('deals').insertOne({ _id: new Int32(4) } as never, { session: s });
      });
      await s.endSession();
      await db.collection('notes').rename('notes_old');
    });
    const at = await mongoFactory.serverNowMicros(src);
    const wanted = await rawState(src);
    await withMongo(src, (db) => db.collection('contacts').rename('people'));
    const after = await mongoFactory.serverNowMicros(src);
    await stream.waitCovered(after, 120_000);
    await stream.stop();
    const dst = fresh('tables_dst');
    await restoreInto(tr.repo, driver, 'tables', { kind: 'time', micros: at }, dst, {
      tables: ['contacts', 'deals'],
    });
    expect(await rawState(dst)).toEqual({ contacts: wanted.contacts, deals: wanted.deals });
    const late = fresh('tables_late');
    await expect(
      restoreInto(tr.repo, driver, 'tables', { kind: 'time', micros: after }, late, {
        tables: ['contacts', 'deals'],
      }),
    ).rejects.toThrow(
      /^Collection contacts, which --tables restores, was renamed to people at cluster time \d+\.\d+, which it does not restore, so its later changes would be left out; restore without --tables, or to a time before the rename\.$/,
    );
  });
});
