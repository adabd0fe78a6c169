/**
 * A large collection split by `_id` ranges, without a server: the BSON comparison order the ranges
 * follow (types in MongoDB's order, numbers equal across int32/int64/double/Decimal128 and compared
 * exactly), and the ranges built from a sorted sample covering every `_id` of every type exactly
 * once, including `_id`s of a type the sample never saw. The `find` commands carry the bounds as
 * index bounds (`min`/`max` with the `_id` index hinted), their BSON types kept.
 */
import { Binary, BSON, Decimal128, Double, Int32, Long, MaxKey, MinKey, ObjectId, Timestamp } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { compareBsonValues } from '../../../drivers/mongodb/internal/bson-order.js';
import { field, T } from '../../../drivers/mongodb/internal/bson-raw.js';
import {
  findCommand,
  idRanges,
  inRange,
  unsplittable,
  type IdRange,
} from '../../../drivers/mongodb/internal/split.js';

type Value = { type: number; value: Uint8Array };

/** The `_id` of `{ _id: v }` as raw element bytes. */
function id(v: unknown): Value {
  const e = field(BSON.serialize({ _id: v }), '_id')!;
  return { type: e.type, value: e.value };
}

const cmp = compareBsonValues;
const sorted = (xs: readonly Value[]): Value[] => [...xs].sort(cmp);

/** Every kind of `_id` a collection may hold, in MongoDB's order (ties on one line). */
const ORDERED: unknown[][] = [
  [new MinKey()],
  [null],
  [new Double(NaN)],
  [new Double(-Infinity)],
  [Long.fromString('-9223372036854775808')],
  [new Int32(-5), new Double(-5), Decimal128.fromString('-5.000')],
  [Decimal128.fromString('0.1')],
  [new Double(0.1)], // the double nearest 0.1 is 0.1000000000000000055…
  [new Int32(1), Long.fromNumber(1), new Double(1), Decimal128.fromString('1.0')],
  [Long.fromString('9007199254740993')], // 2^53 + 1: no double holds it
  [new Double(2 ** 53 + 2)],
  [Decimal128.fromString('1E+30')],
  [new Double(Infinity)],
  [''],
  ['Z'],
  ['a'],
  ['ab'],
  ['é'],
  [{}],
  [{ a: new Int32(1) }],
  [{ a: new Int32(1), b: new Int32(0) }],
  [{ b: new Int32(0) }],
  [{ a: 'x' }], // a field's type class comes before its name
  [new Binary(Buffer.from([9]), 0)],
  [new Binary(Buffer.from([1, 2]), 0)],
  [new Binary(Buffer.from([1, 2]), 4)],
  [new ObjectId('000000000000000000000001')],
  [new ObjectId('ffffffffffffffffffffffff')],
  [false],
  [true],
  [new Date(-1000)],
  [new Date(0)],
  [new Timestamp({ t: 1, i: 5 })],
  [new Timestamp({ t: 2, i: 0 })],
  [new Timestamp({ t: 0xffffffff, i: 0 })],
  [new MaxKey()],
];

describe('BSON comparison order', () => {
  it('orders every _id type as MongoDB does, numbers by exact value across their types', () => {
    const groups = ORDERED.map((g) => g.map(id));
    groups.forEach((g, i) => {
      for (const a of g) for (const b of g) expect(cmp(a, b)).toBe(0);
      for (const later of groups.slice(i + 1))
        for (const a of g)
          for (const b of later) {
            expect(cmp(a, b), `group ${i}`).toBe(-1);
            expect(cmp(b, a)).toBe(1);
          }
    });
  });
});

/** A population of `_id`s of mixed types, reproducible. */
function population(n: number): Value[] {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const out: Value[] = [];
  for (let k = 0; k < n; k++) {
    const r = rnd();
    const x = Math.floor(rnd() * 1000);
    if (r < 0.4) out.push(id(ObjectId.createFromTime(1_700_000_000 + x)));
    else if (r < 0.55) out.push(id(new Int32(x - 500)));
    else if (r < 0.65) out.push(id(Long.fromNumber(x * 3)));
    else if (r < 0.7) out.push(id(new Double(x / 7)));
    else if (r < 0.72) out.push(id(Decimal128.fromString(`${x}.5`)));
    else if (r < 0.85) out.push(id(`c${x}`));
    else if (r < 0.9) out.push(id({ contact: new Int32(x), seq: new Int32(k) }));
    else if (r < 0.95) out.push(id(new Date(x * 86_400_000)));
    else out.push(id(new Binary(Buffer.from([x & 255, k & 255]), 4)));
  }
  return out;
}

/** Each `_id` is in exactly one range, and consecutive ranges meet at one bound. */
function expectPartition(ids: readonly Value[], ranges: readonly IdRange[]): void {
  expect(ranges[0]!.min).toBeUndefined();
  expect(ranges.at(-1)!.max).toBeUndefined();
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.min).toBe(ranges[i - 1]!.max);
  for (const v of ids) expect(ranges.filter((r) => inRange(v, r))).toHaveLength(1);
}

describe('_id ranges', () => {
  const ids = population(3000);

  it('cover every _id of every type exactly once, whatever the number of parts', () => {
    // the server's $sample + $sort: a sorted subset
    const sample = sorted(ids.filter((_, k) => k % 37 === 0));
    for (const parts of [2, 3, 4, 8, 16]) {
      const ranges = idRanges(sample, parts)!;
      expect(ranges.length).toBeGreaterThan(1);
      expect(ranges.length).toBeLessThanOrEqual(parts);
      expectPartition(ids, ranges);
    }
  });

  it('cover _ids of types the sample never saw (below, between and above its type)', () => {
    const sample = sorted(ids.filter((v) => v.type === T.objectId).slice(0, 60));
    const ranges = idRanges(sample, 4)!;
    expect(ranges).toHaveLength(4);
    expectPartition(ids, ranges);
    // numbers and strings sort before ObjectIds, dates after: first and last range take them
    expect(inRange(id(new Int32(-1)), ranges[0]!)).toBe(true);
    expect(inRange(id('zzz'), ranges[0]!)).toBe(true);
    expect(inRange(id(new Date()), ranges[3]!)).toBe(true);
    expect(inRange(id(new MaxKey()), ranges[3]!)).toBe(true);
  });

  it('drop bounds the index holds equal (1, 1.0, NumberLong(1)), leaving no duplicate range', () => {
    const sample = [new Int32(1), new Double(1), Long.fromNumber(1), new Int32(1), new Int32(2)].map(id);
    const ranges = idRanges(sample, 4)!;
    expect(ranges).toHaveLength(2);
    expectPartition([...sample, id(new Int32(0)), id(new Double(1.5)), id('x')], ranges);
  });

  it('are not made from a sample out of order, from no sample, or for one part', () => {
    expect(idRanges([id(new Int32(2)), id(new Int32(1))], 4)).toBeUndefined();
    expect(idRanges([id('b'), id(new Int32(1))], 4)).toBeUndefined();
    expect(idRanges([], 4)).toBeUndefined();
    expect(idRanges(sorted(ids.slice(0, 100)), 1)).toBeUndefined();
  });

  it('read as index bounds on the hinted _id index, keeping the bound BSON types', () => {
    const [first, middle, last] = idRanges([id(new Int32(5)), id(Long.fromNumber(9)), id('k')], 3)!.map((r) =>
      BSON.deserialize(BSON.serialize(findCommand('contacts', 100, r)), { promoteValues: false }),
    );
    expect(first).toMatchObject({ find: 'contacts', hint: { _id: new Int32(1) } });
    expect(first!.min).toBeUndefined();
    expect(first!.max._id).toBeInstanceOf(Long);
    expect(middle!.min._id).toBeInstanceOf(Long);
    expect(middle!.max._id.toString()).toBe('k');
    expect(last!.max).toBeUndefined();
    expect(last!.filter).toEqual({});
    const whole = findCommand('contacts', 100);
    expect(whole).toEqual({ find: 'contacts', filter: {}, batchSize: 100, noCursorTimeout: true });
  });
});

describe('which collections are split', () => {
  const base = {
    name: 'contacts',
    type: 'collection',
    collation: false,
    clustered: false,
    idIndex: true,
    others: ['contacts', 'deals#2'],
  };
  it('an ordinary collection with its _id index', () => {
    expect(unsplittable(base)).toBeUndefined();
  });
  it('not a collated, clustered or time-series one, nor one whose part names are taken', () => {
    expect(unsplittable({ ...base, collation: true })).toBe('it has a default collation');
    expect(unsplittable({ ...base, clustered: true })).toBe('it has no separate _id index');
    expect(unsplittable({ ...base, type: 'timeseries' })).toBe('it is a timeseries');
    expect(unsplittable({ ...base, others: ['contacts', 'contacts#2'] })).toBe(
      'another collection has a part name of it',
    );
    expect(unsplittable({ ...base, name: 'a.b', others: ['axb#1'] })).toBeUndefined();
  });
});
