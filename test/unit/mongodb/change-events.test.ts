/**
 * Every change-event kind the stream stores, built in the shapes MongoDB documents for them
 * (https://www.mongodb.com/docs/manual/reference/change-events/), through the stored payload
 * into the restore's writes, applied by the evaluator to a collection: the result must be the
 * document the source holds after the event, byte for byte (types and key order included).
 */
import { BSON, Binary, Decimal128, Double, Int32, Long, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { EventAssembler } from '../../../drivers/mongodb/internal/assembly.js';
import { buildDocument, el, type RawElement } from '../../../drivers/mongodb/internal/bson-raw.js';
import { decodePayload } from '../../../drivers/mongodb/internal/payload.js';
import { Evaluator, decode, encode } from './support/evaluator.js';
import { END_TOKEN, assemble, replay, writesOfParts } from './support/replay.js';

type Doc = Record<string, unknown>;
let n = 0;
const tokenAt = (t: number, i: number): string =>
  `82${t.toString(16).toUpperCase().padStart(8, '0')}${i.toString(16).toUpperCase().padStart(8, '0')}2B04${(n++).toString(16).toUpperCase().padStart(4, '0')}04`;

/** A change event as the server documents it (fields in the documented order). */
function ev(
  op: string,
  t: number,
  i: number,
  rest: Doc,
  coll: string | undefined = 'people',
  db = 'crm',
): Uint8Array {
  return BSON.serialize({
    _id: { _data: tokenAt(t, i) },
    operationType: op,
    clusterTime: new Timestamp({ t, i }),
    wallTime: new Date(t * 1000 + i),
    ns: coll === undefined ? { db } : { db, coll },
    ...rest,
  });
}

/** A document built element by element, so its key order is exactly this. */
const doc = (...items: RawElement[]): Uint8Array => buildDocument(items);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const show = (b: Uint8Array): string =>
  BSON.EJSON.stringify(BSON.deserialize(b, { promoteValues: false }), { relaxed: false });

function withPeople(...docs: Uint8Array[]): Evaluator {
  const e = new Evaluator();
  e.load('people', docs);
  return e;
}

describe('change events -> stored records -> writes -> the document the source holds', () => {
  it('insert: the full document, its BSON types kept', () => {
    const full = {
      _id: new Int32(1),
      i: new Int32(7),
      l: Long.fromNumber(7),
      d: new Double(1.0),
      m: Decimal128.fromString('1.10'),
    };
    const r = replay(
      [ev('insert', 100, 1, { documentKey: { _id: new Int32(1) }, fullDocument: full })],
      'crm',
    );
    expect(r.documents('people').map(hex)).toEqual([hex(BSON.serialize(full))]);
  });

  it('insert is idempotent: replayed over a snapshot that already holds the document', () => {
    const full = BSON.serialize({ _id: 1, v: 'new' });
    const r = replay(
      [ev('insert', 100, 1, { documentKey: { _id: 1 }, fullDocument: BSON.deserialize(full) })],
      'crm',
      withPeople(BSON.serialize({ _id: 1, v: 'new' })),
    );
    expect(r.documents('people').map(hex)).toEqual([hex(full)]);
  });

  it('update: updatedFields, removedFields and truncatedArrays', () => {
    const before = BSON.serialize({ _id: 1, a: { b: 1, keep: true }, arr: [1, 2, 3, 4], c: 1 });
    const e = ev('update', 100, 2, {
      documentKey: { _id: 1 },
      updateDescription: {
        updatedFields: { 'a.b': new Int32(5), 'arr.1': 'x', fresh: Long.fromNumber(3) },
        removedFields: ['c'],
        truncatedArrays: [{ field: 'arr', newSize: 2 }],
      },
    });
    const r = replay([e], 'crm', withPeople(before));
    expect(r.documents('people').map(show)).toEqual([
      show(
        BSON.serialize({
          _id: 1,
          a: { b: new Int32(5), keep: true },
          arr: [1, 'x'],
          fresh: Long.fromNumber(3),
        }),
      ),
    ]);
  });

  it('update with disambiguatedPaths: dotted field names, numeric keys, $-prefixed names, array indexes', () => {
    const before = doc(
      el.int32('_id', 1),
      el.int32('a.b', 1),
      el.document('o', doc(el.document('x.y', doc(el.int32('z', 1))), el.string('0', 'zero'))),
      el.array('arr', doc(el.document('0', doc(el.int32('k.j', 1))))),
      el.int32('$price', 10),
      el.int32('gone.soon', 1),
    );
    const e = ev('update', 100, 3, {
      documentKey: { _id: new Int32(1) },
      updateDescription: {
        updatedFields: {
          'a.b': new Int32(2),
          'o.0': 'ZERO',
          'o.x.y.z': new Int32(3),
          'arr.0.k.j': new Int32(9),
          $price: new Int32(11),
        },
        removedFields: ['gone.soon'],
        truncatedArrays: [],
        disambiguatedPaths: {
          'a.b': ['a.b'],
          'o.0': ['o', '0'],
          'o.x.y.z': ['o', 'x.y', 'z'],
          'arr.0.k.j': ['arr', new Int32(0), 'k.j'],
          $price: ['$price'],
          'gone.soon': ['gone.soon'],
        },
      },
    });
    const after = doc(
      el.int32('_id', 1),
      el.int32('a.b', 2),
      el.document('o', doc(el.document('x.y', doc(el.int32('z', 3))), el.string('0', 'ZERO'))),
      el.array('arr', doc(el.document('0', doc(el.int32('k.j', 9))))),
      el.int32('$price', 11),
    );
    const r = replay([e], 'crm', withPeople(before));
    expect(r.documents('people').map(hex)).toEqual([hex(after)]);
  });

  it('update of a numeric object key without a dot stays a plain $set', () => {
    const before = doc(
      el.int32('_id', 1),
      el.document('o', doc(el.string('b', 'B'), el.string('0', 'zero'))),
    );
    const e = ev('update', 100, 4, {
      documentKey: { _id: new Int32(1) },
      updateDescription: {
        updatedFields: { 'o.0': 'ZERO' },
        removedFields: [],
        truncatedArrays: [],
        disambiguatedPaths: { 'o.0': ['o', '0'] },
      },
    });
    const writes = writesOfParts(assemble([e], 'crm'), 'crm');
    expect(writes).toHaveLength(1);
    const w = writes[0]!;
    if (w.kind !== 'update') throw new Error(`expected an update, got ${w.kind}`);
    const st = decode(w.statements[0]!);
    expect(st.f.map(([k]) => k)).toEqual(['q', 'u', 'upsert']);
    expect(show(encode(st.f[1]![1] as never))).toContain('"$set":{"o.0":"ZERO"}');
    const r = replay([e], 'crm', withPeople(before));
    expect(r.documents('people').map(hex)).toEqual([
      hex(doc(el.int32('_id', 1), el.document('o', doc(el.string('b', 'B'), el.string('0', 'ZERO'))))),
    ]);
  });

  it('a truncated array under a dotted name is cut by a pipeline update', () => {
    const before = doc(
      el.int32('_id', 1),
      el.array('a.b', doc(el.int32('0', 1), el.int32('1', 2), el.int32('2', 3))),
    );
    const e = ev('update', 100, 5, {
      documentKey: { _id: new Int32(1) },
      updateDescription: {
        updatedFields: {},
        removedFields: [],
        truncatedArrays: [{ field: 'a.b', newSize: new Int32(1) }],
        disambiguatedPaths: { 'a.b': ['a.b'] },
      },
    });
    const r = replay([e], 'crm', withPeople(before));
    expect(r.documents('people').map(hex)).toEqual([
      hex(doc(el.int32('_id', 1), el.array('a.b', doc(el.int32('0', 1))))),
    ]);
  });

  it('replace: the whole new document; one with a top-level $-field too', () => {
    const before = BSON.serialize({ _id: 1, old: true });
    const full = doc(el.int32('_id', 1), el.int32('$weird', 1), el.string('n', 'v'));
    const e = ev('replace', 100, 6, {
      documentKey: { _id: new Int32(1) },
      fullDocument: BSON.deserialize(full, { promoteValues: false }),
    });
    const r = replay([e], 'crm', withPeople(before));
    expect(r.documents('people').map(hex)).toEqual([hex(full)]);
  });

  it('delete: by the documentKey', () => {
    const r = replay(
      [ev('delete', 100, 7, { documentKey: { _id: 2 } })],
      'crm',
      withPeople(BSON.serialize({ _id: 1 }), BSON.serialize({ _id: 2 })),
    );
    expect(r.documents('people').map(show)).toEqual([show(BSON.serialize({ _id: 1 }))]);
  });

  it('create, createIndexes, modify, dropIndexes, rename, drop and dropDatabase', () => {
    const uuid = new Binary(Buffer.alloc(16, 1), 4);
    const events = [
      ev(
        'create',
        100,
        10,
        {
          collectionUUID: uuid,
          operationDescription: {
            capped: true,
            size: Long.fromNumber(4096),
            validator: { $jsonSchema: { required: ['a'] } },
          },
          nsType: 'collection',
        },
        'logs',
      ),
      ev(
        'createIndexes',
        100,
        11,
        {
          collectionUUID: uuid,
          operationDescription: {
            indexes: [
              {
                v: 2,
                key: { a: new Double(1) },
                name: 'a_1',
                partialFilterExpression: { a: { $gt: new Int32(1) } },
              },
            ],
          },
        },
        'logs',
      ),
      ev(
        'modify',
        100,
        12,
        {
          collectionUUID: uuid,
          operationDescription: { index: { name: 'a_1', hidden: true } },
          stateBeforeChange: { indexOptions: { hidden: false } },
        },
        'logs',
      ),
      ev(
        'createIndexes',
        100,
        13,
        { collectionUUID: uuid, operationDescription: { indexes: [{ v: 2, key: { b: 1 }, name: 'b_1' }] } },
        'logs',
      ),
      ev(
        'dropIndexes',
        100,
        14,
        { collectionUUID: uuid, operationDescription: { indexes: [{ v: 2, key: { b: 1 }, name: 'b_1' }] } },
        'logs',
      ),
      ev(
        'rename',
        100,
        15,
        { to: { db: 'crm', coll: 'journal' }, operationDescription: { to: { db: 'crm', coll: 'journal' } } },
        'logs',
      ),
      ev('drop', 100, 16, {}, 'people'),
    ];
    const r = replay(events, 'crm', withPeople(BSON.serialize({ _id: 1 })));
    expect([...r.collections.keys()]).toEqual(['journal']);
    const journal = r.collections.get('journal')!;
    expect(show(journal.options)).toBe(
      show(
        BSON.serialize({
          capped: true,
          size: Long.fromNumber(4096),
          validator: { $jsonSchema: { required: ['a'] } },
        }),
      ),
    );
    expect([...journal.indexes.keys()]).toEqual(['a_1']);
    expect(show(journal.indexes.get('a_1')!)).toBe(
      show(
        BSON.serialize({
          v: 2,
          key: { a: new Double(1) },
          name: 'a_1',
          partialFilterExpression: { a: { $gt: new Int32(1) } },
          hidden: true,
        }),
      ),
    );
    const dropped = replay(
      [ev('dropDatabase', 100, 20, {}, undefined)],
      'crm',
      withPeople(BSON.serialize({ _id: 1 })),
    );
    expect([...dropped.collections.keys()]).toEqual([]);
  });

  it('rename with dropTarget replaces the target collection; a rename out of the database is a drop', () => {
    const e = new Evaluator();
    e.load('a', [BSON.serialize({ _id: 'a' })]);
    e.load('b', [BSON.serialize({ _id: 'b' })]);
    replay(
      [
        ev(
          'rename',
          100,
          1,
          {
            to: { db: 'crm', coll: 'b' },
            operationDescription: {
              to: { db: 'crm', coll: 'b' },
              dropTarget: new Binary(Buffer.alloc(16, 2), 4),
            },
          },
          'a',
        ),
      ],
      'crm',
      e,
    );
    expect([...e.collections.keys()]).toEqual(['b']);
    expect(e.documents('b').map(show)).toEqual([show(BSON.serialize({ _id: 'a' }))]);
    replay([ev('rename', 100, 2, { to: { db: 'archive', coll: 'b' } }, 'b')], 'crm', e);
    expect([...e.collections.keys()]).toEqual([]);
  });

  it('a rename INTO the database from another is refused at replay with one sentence', () => {
    const parts = assemble(
      [ev('rename', 100, 1, { to: { db: 'crm', coll: 'imported' } }, 'staging', 'other')],
      'crm',
    );
    expect(parts).toHaveLength(1);
    expect(parts[0]!.tables).toEqual(['imported']);
    expect(() =>
      replay([ev('rename', 100, 1, { to: { db: 'crm', coll: 'imported' } }, 'staging', 'other')], 'crm'),
    ).toThrow(
      'Collection other.staging was renamed into the database as imported; its documents were never in the change log, so a restore past that moment cannot be exact (take a snapshot after such a rename).',
    );
  });

  it('invalidate and sharding events change nothing', () => {
    const parts = assemble(
      [
        ev('invalidate', 100, 1, {}, undefined),
        ev('shardCollection', 100, 2, { operationDescription: { shardKey: { a: 1 } } }),
      ],
      'crm',
    );
    expect(writesOfParts(parts, 'crm')).toEqual([]);
    expect(decodePayload(parts[0]!.payload).records.map((r) => r.op)).toEqual(['invalidate']);
  });

  it('an event split by $changeStreamSplitLargeEvent is joined before it is stored', () => {
    const big = 'x'.repeat(1000);
    const token = tokenAt(100, 1);
    const f1 = BSON.serialize({
      _id: { _data: tokenAt(100, 1) },
      splitEvent: { fragment: 1, of: 2 },
      operationType: 'insert',
      clusterTime: new Timestamp({ t: 100, i: 1 }),
      ns: { db: 'crm', coll: 'people' },
      documentKey: { _id: 1 },
    });
    const f2 = BSON.serialize({
      _id: { _data: token },
      splitEvent: { fragment: 2, of: 2 },
      fullDocument: { _id: 1, big },
    });
    const r = replay([f1, f2], 'crm');
    expect(r.documents('people').map(show)).toEqual([show(BSON.serialize({ _id: 1, big }))]);
  });
});

describe('grouping change events into stored transactions', () => {
  const ins = (t: number, i: number, id: number, extra: Doc = {}): Uint8Array =>
    ev('insert', t, i, { documentKey: { _id: id }, fullDocument: { _id: id }, ...extra });
  const txn = (k: number) => ({
    lsid: { id: new Binary(Buffer.alloc(16, k), 4), uid: new Binary(Buffer.alloc(32, 9), 0) },
    txnNumber: Long.fromNumber(k),
  });

  it('events outside a transaction sharing one cluster time (a batched write) are one transaction', () => {
    const parts = assemble([ins(100, 1, 1), ins(100, 1, 2), ins(100, 2, 3)], 'crm');
    expect(parts.map((p) => [p.position.split('~')[0], p.changes])).toEqual([
      ['100.1', 2],
      ['100.2', 1],
    ]);
  });

  it('a transaction over consecutive cluster times is one, positioned at its first', () => {
    const events = [ins(100, 1, 1, txn(1)), ins(100, 2, 2, txn(1)), ins(100, 3, 3, txn(2)), ins(100, 4, 4)];
    const parts = assemble(events, 'crm');
    expect(parts.map((p) => [p.position.split('~')[0], p.changes])).toEqual([
      ['100.1', 2],
      ['100.3', 1],
      ['100.4', 1],
    ]);
    // the position's token resumes after the transaction's last event
    expect(parts[0]!.position.split('~')[1]).toBe(
      (BSON.deserialize(events[1]!)._id as { _data: string })._data,
    );
  });

  it('waits for the post-batch resume token to pass the group before storing it', () => {
    const a = new EventAssembler({ db: 'crm' });
    expect(a.push(ins(100, 1, 1, txn(1)))).toEqual([]);
    expect(a.advance(tokenAt(100, 1))).toEqual([]); // the same cluster time: more may follow
    expect(a.advance(tokenAt(100, 2))).toHaveLength(1);
    expect(a.open).toBe(false);
    expect(a.advance(END_TOKEN)).toEqual([]);
  });

  it('marker events make an internal part without records; other databases are not stored', () => {
    const marker = ev(
      'update',
      100,
      1,
      { documentKey: { _id: 'crm' }, updateDescription: { updatedFields: { at: 1 }, removedFields: [] } },
      'heartbeat',
      'crmb',
    );
    const parts = assemble([marker, ins(100, 2, 1, { ns: { db: 'other', coll: 'x' } })], 'crm');
    expect(parts).toHaveLength(1);
    const { header, records } = decodePayload(parts[0]!.payload);
    expect(header.internal).toBe(true);
    expect(records).toEqual([]);
  });

  it("the commit time is the first event's wallTime in µs", () => {
    const [p] = assemble([ins(1700000000, 5, 1)], 'crm');
    expect(p!.commitTime).toBe(1_700_000_000_005_000n);
  });
});
