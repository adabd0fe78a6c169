/**
 * Small MongoDB helpers for the benchmark: URLs with another database, one-shot clients, the
 * server's check, its clock, and checksums.
 *
 * The server is someone else's (no MongoDB can be started here), so every database the run
 * creates is named `crmb_bench_<6 hex>_<name>` (BENCH_PREFIX, one per run), refused if it already
 * holds anything, and dropped at the end (mongodb-db.ts).
 *
 * Checksums: per collection, the MD5 of every document's raw BSON in `_id` order, with the count;
 * a BSON type, a key order or one millisecond that differs changes it. Each collection's index
 * definitions (name, key, unique, sparse, partial filter, TTL) are a second entry,
 * `<collection>:indexes`, so a restore that loses an index does not pass.
 */
import { createHash, randomBytes } from 'node:crypto';
import { MongoClient, type Db, type Document } from 'mongodb';
import type { TableChecksum } from '../../scripts/crm/index.js';
import { firstLine } from '../../src/driver/reconnect.js';
import { redactUrl } from '../../src/util/redact.js';

/** The prefix of every database this run creates. */
export const BENCH_PREFIX = `crmb_bench_${randomBytes(3).toString('hex')}_`;

/** The collection the closing commit goes into (in the CRM database, so the stream sees it); left out of every checksum. */
export const TICK_COLLECTION = 'crmb_bench_tick';

const URL_PARTS = /^(mongodb(?:\+srv)?:\/\/[^/?#]*)(?:\/([^?#]*))?(\?[^#]*)?$/;

/**
 * `url` with database `db` in its path ('' for none). A database the URL named is where its user
 * authenticates unless authSource says otherwise: it is kept as authSource.
 */
export function databaseUrl(url: string, db: string): string {
  const m = URL_PARTS.exec(url);
  if (!m?.[1]) throw new Error(`${redactUrl(url)} is not a mongodb:// URL with a host.`);
  const params = new URLSearchParams(m[3]?.slice(1) ?? '');
  const named = decodeURIComponent(m[2] ?? '');
  if (named && m[1].includes('@') && !params.has('authSource')) params.set('authSource', named);
  const query = params.toString();
  return `${m[1]}/${encodeURIComponent(db)}${query ? `?${query}` : ''}`;
}

export const dbNameOf = (url: string): string => decodeURIComponent(URL_PARTS.exec(url)?.[2] ?? '');

/** A client on `url`, waiting 10 s for a server unless the URL says how long (serverSelectionTimeoutMS). */
export function mongoClient(url: string): MongoClient {
  const own = /[?&]serverSelectionTimeoutMS=/i.test(url);
  return new MongoClient(url, { appName: 'crmb-bench', ...(own ? {} : { serverSelectionTimeoutMS: 10_000 }) });
}

/** Runs `fn` with a client on `url` (its database is `db`), closed afterwards. */
export async function withMongo<T>(url: string, fn: (db: Db, client: MongoClient) => Promise<T>): Promise<T> {
  const client = mongoClient(url);
  try {
    await client.connect();
    return await fn(client.db(dbNameOf(url) || undefined), client);
  } finally {
    await client.close();
  }
}

export interface MongoServerInfo {
  readonly version: string;
  readonly topology: 'replicaSet' | 'sharded';
}

/** The server's version and topology; one sentence when it cannot be reached or is a standalone. */
export async function checkServer(url: string): Promise<MongoServerInfo> {
  const shown = redactUrl(url);
  let hello: Document;
  let build: Document;
  try {
    ({ hello, build } = await withMongo(url, async (_db, client) => ({
      hello: await client.db('admin').command({ hello: 1 }),
      build: await client.db('admin').command({ buildInfo: 1 }),
    })));
  } catch (err) {
    throw new Error(`Cannot reach the MongoDB server at ${shown}: ${firstLine(err)}.`, { cause: err });
  }
  const version = String(build.version ?? '?');
  if (hello.msg === 'isdbgrid') return { version, topology: 'sharded' };
  if (!hello.setName)
    throw new Error(`${shown} is a standalone MongoDB ${version}; the benchmark needs a replica set, whose change stream the stream reads (a single-node one will do: mongod --replSet rs0, then rs.initiate()).`);
  return { version, topology: 'replicaSet' };
}

/** The server's clock (hello.localTime, milliseconds) as ISO 8601 UTC with microseconds, the form `restore --at` and `list` use. */
export async function mongoNow(db: Db): Promise<string> {
  const hello = await db.admin().command({ hello: 1 });
  return `${(hello.localTime as Date).toISOString().slice(0, 23)}000Z`;
}

/** The fields of an index definition that make it what it is (not `v`, not `ns`). */
function indexShape(ix: Document): string {
  const key = Object.entries(ix.key as Document).map(([f, v]) => [f, String(v)]);
  const pick = ['unique', 'sparse', 'partialFilterExpression', 'expireAfterSeconds', 'collation'].filter((k) => ix[k] !== undefined);
  return JSON.stringify([ix.name, key, ...pick.map((k) => [k, ix[k]])]);
}

/** Checksums of every collection of the database of `url` but system.* and `exclude`, and of their indexes. */
export async function mongoChecksums(url: string, exclude: readonly string[] = [TICK_COLLECTION]): Promise<Record<string, TableChecksum>> {
  return withMongo(url, async (db) => {
    const names = (await db.listCollections({ type: 'collection' }, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((n) => !n.startsWith('system.') && !exclude.includes(n))
      .sort();
    const out: Record<string, TableChecksum> = {};
    for (const name of names) {
      const coll = db.collection(name);
      const hash = createHash('md5');
      let rows = 0;
      for await (const doc of coll.find({}, { raw: true, sort: { _id: 1 }, batchSize: 5000 })) {
        hash.update(doc as unknown as Uint8Array); // BSON carries its own length: no separator needed
        rows++;
      }
      out[name] = { rows, md5: hash.digest('hex') };
      const indexes = (await coll.listIndexes().toArray()).map(indexShape).sort();
      out[`${name}:indexes`] = { rows: indexes.length, md5: createHash('md5').update(indexes.join('\n')).digest('hex') };
    }
    return out;
  });
}
