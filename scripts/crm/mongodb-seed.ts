/**
 * seedMongoCrm: fills an empty MongoDB database (the one the URL's path names) with the reference
 * CRM as documents (mongodb-documents.ts), then builds the collections' secondary indexes, after
 * the data as a restore does. The counts are those of seedCrm at the same scale.
 */
import { MongoClient } from 'mongodb';
import { CRM_TABLES } from '../../migrations/knex-config.js';
import { rowCounts } from './generate.js';
import { generateDocuments, MONGO_CRM_INDEXES } from './mongodb-documents.js';
import type { SeedOptions, SeedResult } from './seed.js';

export async function seedMongoCrm(url: string, opts: SeedOptions): Promise<SeedResult> {
  if (!(opts.scale > 0)) throw new Error(`scale is ${String(opts.scale)}; it must be a positive number such as 0.1 or 1.`);
  const started = Date.now();
  const counts = rowCounts(opts.scale);
  const seed = opts.seed ?? 1;
  const client = new MongoClient(url, { serverSelectionTimeoutMS: 15_000 });
  try {
    await client.connect();
    const db = client.db();
    const present = (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    const taken = CRM_TABLES.filter((t) => present.includes(t));
    if (taken.length) throw new Error(`database ${db.databaseName} already has ${taken.join(', ')}; seed into an empty database (the _ids are fixed, so documents would collide).`);
    for (const table of CRM_TABLES) {
      const coll = db.collection(table);
      await db.createCollection(table);
      for (const batch of generateDocuments(table, { seed, counts }, opts.batchSize ?? 1000)) {
        opts.signal?.throwIfAborted();
        await coll.insertMany(batch, { ordered: true });
      }
      const indexes = MONGO_CRM_INDEXES[table];
      if (indexes.length) await coll.createIndexes(indexes.map((i) => ({ key: { ...i.key }, name: i.name, ...(i.unique ? { unique: true } : {}) })));
      opts.onProgress?.(table, counts[table]);
    }
  } finally {
    await client.close();
  }
  return { rows: counts, ms: Date.now() - started };
}
