/**
 * BSON fidelity without a server: every document of mongo-tools' all_types.bson and
 * all_in_one_doc.bson goes through the snapshot's encoding (a raw `find` reply as the installed
 * mongodb driver hands it back with `raw: true`, its batch sliced into the `mongodb-bson/1`
 * stream) and the restore's encoding (the stream read back across arbitrary chunk cuts, batched,
 * and put into an `insert` command that the installed driver turns into an OP_MSG), and comes
 * out byte for byte as it went in: same BSON types (int32, int64, double 1.0, Decimal128, regex
 * flags, symbol, undefined, DBPointer, code with scope, min/max key), same key order.
 */
import { createRequire } from 'node:module';
import { BSON, Decimal128, Double, Int32, Long } from 'mongodb';
import { describe, expect, it } from 'vitest';
import {
  buildArray,
  buildDocument,
  el,
  elements,
  field,
  sameBytes,
  T,
} from '../../../drivers/mongodb/internal/bson-raw.js';
import { cursorDocument, readCursor } from '../../../drivers/mongodb/internal/cursor.js';
import { batchesOf, documentsOf } from '../../../drivers/mongodb/internal/load.js';
import { rawSequence } from '../../../drivers/mongodb/internal/raw-command.js';
import { fixtureDocuments, haveMongoFixtures } from './support/fixtures.js';

const require = createRequire(import.meta.url);
const { MongoDBResponse } = require('mongodb/lib/cmap/wire_protocol/responses.js') as {
  MongoDBResponse: new (bytes: Uint8Array) => { toObject(opts: object): Record<string, unknown> };
};
const { OpMsgRequest } = require('mongodb/lib/cmap/commands.js') as {
  OpMsgRequest: new (db: string, cmd: object, opts: object) => { toBin(): Uint8Array[] };
};

/** A find reply as a server sends it, holding `docs` in its first batch. */
function findReply(docs: readonly Uint8Array[]): Uint8Array {
  const cursor = buildDocument([
    el.array('firstBatch', buildArray(docs.map((d) => ({ type: T.document, value: d })))),
    el.int64('id', 0n),
    el.string('ns', 'crm.things'),
  ]);
  return buildDocument([
    el.document('cursor', cursor),
    { type: T.double, name: 'ok', value: new Uint8Array(new Float64Array([1]).buffer) },
  ]);
}

/** The snapshot's encoding: what the stream of one collection holds for a reply. */
function snapshotStream(reply: Uint8Array): Uint8Array {
  // what db.command(find, { raw: true }) returns, through the installed driver's own response class
  const decoded = new MongoDBResponse(reply).toObject({ raw: true });
  const batch = readCursor(cursorDocument(decoded));
  return Buffer.concat(batch.docs);
}

async function* cut(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let n = 0;
  while (at < bytes.byteLength) {
    const size = sizes[n++ % sizes.length] as number;
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The bytes of every document the insert command's OP_MSG carries in its `documents` section. */
function insertWire(docs: readonly Uint8Array[]): Uint8Array[] {
  const msg = new OpMsgRequest(
    'crm',
    { insert: 'things', documents: rawSequence('documents', docs), ordered: false },
    {},
  );
  const wire = Buffer.concat(msg.toBin());
  // header (16) + flags (4), section 0: kind byte + command document, then section 1
  let at = 20;
  expect(wire[at]).toBe(0);
  at += 1 + wire.readInt32LE(at + 1);
  expect(wire[at]).toBe(1);
  const sectionEnd = at + 1 + wire.readInt32LE(at + 1);
  at += 5;
  const id = wire.indexOf(0, at);
  expect(wire.toString('utf8', at, id)).toBe('documents');
  at = id + 1;
  const out: Uint8Array[] = [];
  while (at < sectionEnd) {
    const len = wire.readInt32LE(at);
    out.push(new Uint8Array(wire.subarray(at, at + len)));
    at += len;
  }
  return out;
}

describe.skipIf(!haveMongoFixtures)('BSON fidelity: snapshot encoding and restore encoding', () => {
  for (const name of ['all_types.bson', 'all_in_one_doc.bson']) {
    it(`${name}: every document comes back byte for byte, cut anywhere`, async () => {
      const source = fixtureDocuments(name);
      const stream = snapshotStream(findReply(source));
      expect(sameBytes(stream, Buffer.concat(source))).toBe(true);
      for (const sizes of [[1], [3, 7], [64], [stream.byteLength]]) {
        const docs = await collect(documentsOf(cut(stream, sizes)));
        const batches = await collect(
          batchesOf(
            (async function* () {
              yield* docs;
            })(),
            { maxBytes: 400, maxCount: 4 },
          ),
        );
        expect(batches.every((b) => b.length <= 4)).toBe(true);
        const sent = batches.flatMap((b) => insertWire(b));
        expect(sent.length).toBe(source.length);
        sent.forEach((d, i) =>
          expect(sameBytes(d, source[i]!), `${name} doc ${i} cut ${sizes.join(',')}`).toBe(true),
        );
      }
    });
  }

  it('keeps the types a JavaScript round trip would change', () => {
    const [doc] = fixtureDocuments('all_in_one_doc.bson');
    const sent = insertWire([doc!])[0]!;
    const types = Object.fromEntries([...elements(sent)].map((e) => [e.name, e.type]));
    expect(types).toMatchObject({
      double: T.double,
      int32: T.int32,
      int64: T.int64,
      dec: T.decimal128,
      regex: T.regex,
      symbol: T.symbol,
      undefined: T.undefined,
      dbpointer: T.dbPointer,
      code: T.codeWithScope,
      minkey: T.minKey,
      maxkey: T.maxKey,
      ts: T.timestamp,
    });
    const v = BSON.deserialize(sent, { promoteValues: false, bsonRegExp: true });
    expect(v.double).toBeInstanceOf(Double);
    expect(v.int32).toBeInstanceOf(Int32);
    expect(v.int64).toBeInstanceOf(Long);
    expect(v.dec).toBeInstanceOf(Decimal128);
    expect(v.regex.options).toBe('imx');
    // and what the driver's own serializer would have sent instead: undefined and DBPointer change
    const viaJs = BSON.serialize(BSON.deserialize(doc!, { promoteValues: false, bsonRegExp: true }));
    expect(sameBytes(viaJs, doc!)).toBe(false);
    expect(field(viaJs, 'dbpointer')?.type).toBe(T.document);
  });

  it('keeps integer-like keys where they were (a JavaScript object moves them first)', () => {
    const doc = buildDocument([
      el.int32('b', 1),
      el.int32('1', 2),
      el.document('n', buildDocument([el.int32('z', 1), el.int32('0', 0)])),
    ]);
    const sent = insertWire([doc])[0]!;
    expect([...elements(sent)].map((e) => e.name)).toEqual(['b', '1', 'n']);
    expect(sameBytes(sent, doc)).toBe(true);
    expect(Object.keys(BSON.deserialize(doc))).toEqual(['1', 'b', 'n']);
  });

  it('refuses a stream that ends inside a document', async () => {
    const [doc] = fixtureDocuments('all_in_one_doc.bson');
    await expect(collect(documentsOf(cut(doc!.subarray(0, doc!.byteLength - 1), [50])))).rejects.toThrow(
      /ends inside a document/,
    );
  });
});
