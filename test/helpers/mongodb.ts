/**
 * MongoDB helpers for the gated integration tests (CRMB_TEST_MONGODB_URL): a short-lived client on
 * a database URL, and every collection's documents as raw BSON, to compare a restore with its
 * source byte for byte (a BSON type or a key order that differs changes the bytes).
 */
import { MongoClient, type Db } from 'mongodb';

/** Runs `fn` with a client on `url` (its database is `db`), closed afterwards. */
export async function withMongo<T>(url: string, fn: (db: Db, client: MongoClient) => Promise<T>): Promise<T> {
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 15_000 });
  try {
    await client.connect();
    return await fn(client.db(), client);
  } finally {
    await client.close();
  }
}

/** Every collection's documents as raw BSON hex, in _id order, by collection name (system.* left out). */
export async function rawState(url: string): Promise<Record<string, string[]>> {
  return withMongo(url, async (db) => {
    const out: Record<string, string[]> = {};
    for (const c of await db.listCollections({}, { nameOnly: true }).toArray()) {
      if (c.name.startsWith('system.')) continue;
      const docs = await db
        .collection(c.name)
        .find({}, { raw: true, sort: { _id: 1 } })
        .toArray();
      out[c.name] = docs.map((d) => Buffer.from(d as unknown as Uint8Array).toString('hex'));
    }
    return out;
  });
}
