/**
 * The MongoDB side of the benchmark: the server it is given (checked, and cleaned at the end),
 * the phases' calls (BenchDb), the write load, the closing commit and the seed's finish.
 *
 * Databases: `createDb(server, 'crm')` is `crmb_bench_<hex>_crm` (mongodb.ts BENCH_PREFIX); a
 * MongoDB database exists once written to, so creating one is checking that it is empty. The
 * server's `stop` drops every database with the run's prefix and the stream's idle-marker
 * document (crmb.heartbeat), as `crm-backup stream --drop` would.
 *
 * The load: `updateMany({ _id: { $gte, $lte } }, [{ $set: { updated_at: '$$NOW' } }])`, 100
 * contacts at a time, each document its own oplog entry (no multi-document transaction, as a CRM
 * writes); `$$NOW` differs from every stored value, so modifiedCount is the exact number of
 * change events.
 *
 * The closing commit: change events carry wallTime in milliseconds, so the tick waits until the
 * server's clock is past E's millisecond; a tick in E's own millisecond could count as committed
 * at E (it would not prove E, and `restore --at E` would replay it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { dropMongoChangeLog } from '../../drivers/mongodb/change-log.js';
import { parseMongoUrl } from '../../drivers/mongodb/internal/connection.js';
import { urlSyntax } from '../../drivers/mongodb/url.js';
import { redactUrl } from '../../src/util/redact.js';
import { seedMongoCrm } from '../../scripts/crm/mongodb-seed.js';
import type { BenchDb } from './bench-db.js';
import { runUpdateLoad, type LoadDb } from './load.js';
import { BENCH_PREFIX, checkServer, databaseUrl, mongoChecksums, mongoClient, mongoNow, TICK_COLLECTION, withMongo, type MongoServerInfo } from './mongodb.js';
import { fmtBytes } from './report.js';
import type { MongoDbSize } from './results.js';
import type { BenchServer } from './run-bench.js';
import type { SeedDb } from './seed.js';
import { say } from './steps.js';

const TICK_POLL_MS = 1;

const mongoLoad: LoadDb = {
  idRange: (url) =>
    withMongo(url, async (db) => {
      const end = async (dir: 1 | -1): Promise<unknown> => (await db.collection('contacts').find({}, { projection: { _id: 1 }, sort: { _id: dir }, limit: 1 }).next())?._id;
      const [lo, hi] = [await end(1), await end(-1)];
      return lo === undefined ? { lo: 0, hi: -1 } : { lo: Number(lo), hi: Number(hi) };
    }),
  async session(url) {
    const client = mongoClient(url);
    await client.connect();
    const contacts = client.db().collection('contacts');
    return {
      touch: async (from, to) => (await contacts.updateMany({ _id: { $gte: from, $lte: to } } as never, [{ $set: { updated_at: '$$NOW' } }])).modifiedCount,
      close: () => client.close(),
    };
  },
};

export const mongoDb: BenchDb = {
  async createDb(serverUrl, name) {
    const url = databaseUrl(serverUrl, `${BENCH_PREFIX}${name}`);
    const held = await withMongo(url, async (db) => (await db.listCollections({}, { nameOnly: true }).toArray()).length);
    if (held) throw new Error(`database ${BENCH_PREFIX}${name} already holds ${held} collections; the benchmark writes only to databases of its own.`);
    return url;
  },
  dropDb: (serverUrl, name) => withMongo(databaseUrl(serverUrl, `${BENCH_PREFIX}${name}`), async (db) => void (await db.dropDatabase())),
  serverNow: (url) => withMongo(url, mongoNow),
  checksums: (url) => mongoChecksums(url),
  updateLoad: (url, opts) => runUpdateLoad(mongoLoad, url, opts),
  closingCommit: (url, e) =>
    withMongo(url, async (db) => {
      while ((await mongoNow(db)) <= e) await sleep(TICK_POLL_MS); // polls the server's clock
      await db.collection(TICK_COLLECTION).insertOne({});
      return mongoNow(db);
    }),
};

async function dbSize(url: string): Promise<MongoDbSize> {
  const s = await withMongo(url, (db) => db.stats());
  return { data: Number(s.dataSize ?? 0), storage: Number(s.storageSize ?? 0), indexes: Number(s.indexSize ?? 0), collections: Number(s.collections ?? 0) };
}

export const mongoSeed: SeedDb<MongoDbSize> = {
  fill: seedMongoCrm,
  heartbeat: async (url, table, elapsed) => `${table ? `seeding ${table}` : 'finishing'}, ${elapsed()}, ${fmtBytes((await dbSize(url)).data)} of documents so far`,
  async finish(url, rows, elapsed) {
    say(`   the tick collection, fsync (${elapsed()})`);
    await withMongo(url, async (db, client) => {
      await db.createCollection(TICK_COLLECTION);
      // the CHECKPOINT of the PostgreSQL bench: neither mongodump nor crm-backup pays for the seed's dirty pages
      await client.db('admin').command({ fsync: 1 }).catch((err: unknown) => say(`   fsync refused (${err instanceof Error ? err.message : String(err)}); going on`));
    });
    const size = await dbSize(url);
    say(
      `   ${rows.toLocaleString('en-US')} documents; ${fmtBytes(size.data)} of BSON (${fmtBytes(size.storage)} on disk, ` +
        `${fmtBytes(size.indexes)} of indexes)`,
    );
    return size;
  },
};

/** The server of the URL, checked (reachable, a replica set or a sharded cluster); `stop` drops what the run created. */
export async function mongoServer(url: string, onInfo: (info: MongoServerInfo) => void): Promise<BenchServer> {
  const info = await checkServer(url);
  onInfo(info);
  const serverUrl = databaseUrl(url, '');
  say(`MongoDB ${info.version} (${info.topology}) at ${redactUrl(serverUrl)}; databases ${BENCH_PREFIX}*, dropped at the end`);
  return {
    url: serverUrl,
    async stop() {
      try {
        const source = databaseUrl(serverUrl, `${BENCH_PREFIX}crm`);
        await dropMongoChangeLog(parseMongoUrl(source), urlSyntax.describeUrl(source).defaultName);
        await withMongo(serverUrl, async (_db, client) => {
          const { databases } = await client.db('admin').command({ listDatabases: 1, nameOnly: true, filter: { name: { $regex: `^${BENCH_PREFIX}` } } });
          for (const d of databases as Array<{ name: string }>) await client.db(d.name).dropDatabase();
        });
      } catch (err) {
        say(`cleanup: ${err instanceof Error ? err.message : String(err)}; drop the databases ${BENCH_PREFIX}* by hand`);
      }
    },
  };
}
