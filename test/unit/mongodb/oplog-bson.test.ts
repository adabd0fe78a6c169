/**
 * The raw oplogs of mongo-tools' mongorestore test data (../shared/fixtures/mongodb/*.oplog.bson,
 * oplog.rs.bson): their entries as the change events a server emits for them
 * (support/oplog-events.ts), assembled, translated and applied: the collections, documents and
 * index specifications that result are those the entries describe, byte for byte.
 */
import { BSON } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { buildDocument, elements, sameBytes } from '../../../drivers/mongodb/internal/bson-raw.js';
import { fixtureDocuments, haveMongoFixtures } from './support/fixtures.js';
import { oplogToEvents } from './support/oplog-events.js';
import { replay } from './support/replay.js';

const entries = (name: string): Record<string, unknown>[] =>
  fixtureDocuments(name).map((d) => BSON.deserialize(d, { promoteValues: false, bsonRegExp: true }));

/** The index spec of an oplog createIndexes `o`, without the command's own field, as bytes. */
function specOf(o: Uint8Array, drop: string): Uint8Array {
  return buildDocument([...elements(o)].filter((e) => e.name !== drop));
}

describe.skipIf(!haveMongoFixtures)('recorded oplogs replayed through change events', () => {
  it('oplog.rs.bson: 100 inserts, the documents as the entries hold them (double _ids kept double)', () => {
    const docs = fixtureDocuments('oplog.rs.bson');
    const result = replay(oplogToEvents(entries('oplog.rs.bson')), 'test');
    const got = result.documents('op');
    expect(got).toHaveLength(100);
    const want = docs.map((d) => [...elements(d)].find((e) => e.name === 'o')!.value);
    got.forEach((g, i) => expect(sameBytes(g, want[i]!), `document ${i}`).toBe(true));
  });

  it('create_indexes.oplog.bson: the collection and both indexes, partialFilterExpression included', () => {
    const raw = fixtureDocuments('create_indexes.oplog.bson');
    const result = replay(oplogToEvents(entries('create_indexes.oplog.bson')), 'create_indexes');
    const test = result.collections.get('test');
    expect(test).toBeDefined();
    expect([...test!.indexes.keys()].sort()).toEqual(['a_1', 'b_1']);
    const o = (i: number): Uint8Array => [...elements(raw[i]!)].find((e) => e.name === 'o')!.value;
    expect(sameBytes(test!.indexes.get('a_1')!, specOf(o(3), 'createIndexes'))).toBe(true);
    expect(sameBytes(test!.indexes.get('b_1')!, specOf(o(15), 'createIndexes'))).toBe(true);
  });

  it('commit_indexes_build.oplog.bson: commitIndexBuild becomes createIndexes; the document is there', () => {
    const result = replay(oplogToEvents(entries('commit_indexes_build.oplog.bson')), 'commit_index');
    const test = result.collections.get('test')!;
    expect([...test.indexes.keys()].sort()).toEqual(['a_1', 'b_1']);
    expect(
      result
        .documents('test')
        .map((d) => BSON.EJSON.stringify(BSON.deserialize(d, { promoteValues: false }), { relaxed: false })),
    ).toEqual(['{"_id":{"$oid":"5ea8b2fca5fd2094399b496a"},"a":{"$numberDouble":"1.0"}}']);
  });
});
