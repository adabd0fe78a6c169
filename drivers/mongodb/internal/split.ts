/**
 * A large collection read in `_id` ranges, one snapshot stream each (`contacts#1`, `contacts#2`, …,
 * as the other drivers name a split table's parts), so that `--jobs` readers share it and a restore
 * loads the parts side by side.
 *
 * The split points are `_id`s the server samples (`$sample`, then `$sort: { _id: 1 }`, which sorts in
 * the `_id` index's order), taken at even quantiles. A range is read with `find` and the index
 * bounds `min` (inclusive) and `max` (exclusive) on the hinted `_id` index, never with a `$gte`/`$lt`
 * filter: a filter compares only values of the bound's own type (type bracketing), so documents
 * whose `_id` is of another type would fall in no range; index bounds order every type by BSON
 * comparison order (bson-order.ts), so consecutive ranges from the first to the last cover every
 * `_id` of every type exactly once. Consecutive bounds the index holds equal are dropped; a range
 * may still come out empty, which costs nothing.
 *
 * Not split: collections with a non-simple default collation (string `_id`s are ordered by the
 * collation there), clustered collections, time-series collections and views; a collection with
 * fewer than `splitting.minDocuments` documents (the server's count from its metadata); and a
 * collection whose part names would be taken by another collection (`x` when `x#2` exists).
 */
import { BSON, type Document } from 'mongodb';
import { compareBsonValues } from './bson-order.js';
import { buildDocument, type RawElement } from './bson-raw.js';

type Value = Pick<RawElement, 'type' | 'value'>;

/** When a collection is split: at least this many documents, and more than one job. */
export const splitting = { minDocuments: 500_000, samplesPerPart: 20 };

/** One `_id` range: from `min` (inclusive; none: from the lowest) to `max` (exclusive; none: to the highest). */
export interface IdRange {
  readonly min?: Value;
  readonly max?: Value;
}

/**
 * The ranges `parts` streams read, from `_id`s sorted in index order (the server's `$sort`);
 * undefined when the collection is read whole: fewer than two parts, no sample, or a sample the
 * server did not give in `_id` order (checked, so that a disagreement can never lose documents).
 */
export function idRanges(sorted: readonly Value[], parts: number): IdRange[] | undefined {
  if (parts < 2 || sorted.length === 0) return undefined;
  for (let i = 1; i < sorted.length; i++)
    if (compareBsonValues(sorted[i - 1]!, sorted[i]!) > 0) return undefined;
  const bounds: Value[] = [];
  for (let k = 1; k < parts; k++) {
    const b = sorted[Math.floor((k * sorted.length) / parts)]!;
    const prev = bounds.at(-1);
    if (!prev || compareBsonValues(prev, b) < 0) bounds.push(b);
  }
  // a bound equal to the lowest sampled _id would make an empty first range; it is harmless
  const ranges: IdRange[] = [];
  bounds.forEach((max, i) => ranges.push(i === 0 ? { max } : { min: bounds[i - 1]!, max }));
  ranges.push({ min: bounds.at(-1)! });
  return ranges;
}

/** Whether `id` is in `r`, by the index's order: what the server's `min`/`max` bounds select. */
export function inRange(id: Value, r: IdRange): boolean {
  return (!r.min || compareBsonValues(r.min, id) <= 0) && (!r.max || compareBsonValues(id, r.max) < 0);
}

/** `{ _id: <value> }` as the client sends it, the value's BSON type kept. */
function bound(v: Value): Document {
  return BSON.deserialize(buildDocument([{ ...v, name: '_id' }]), {
    promoteValues: false,
    bsonRegExp: true,
  });
}

/** The `find` command that reads range `r` of `collection` (the whole collection without one). */
export function findCommand(collection: string, batchSize: number, r?: IdRange): Document {
  const cmd: Document = { find: collection, filter: {}, batchSize, noCursorTimeout: true };
  if (!r) return cmd;
  cmd.hint = { _id: 1 };
  if (r.min) cmd.min = bound(r.min);
  if (r.max) cmd.max = bound(r.max);
  return cmd;
}

/** The aggregation that samples `size` `_id`s of a collection, sorted in index order. */
export function sampleCommand(collection: string, size: number): Document {
  return {
    aggregate: collection,
    pipeline: [{ $sample: { size } }, { $project: { _id: 1 } }, { $sort: { _id: 1 } }],
    cursor: {},
  };
}

/** Why `info`/`indexes` of a collection keep it from being split, if they do. */
export function unsplittable(opts: {
  readonly name: string;
  readonly type: string;
  readonly collation: boolean;
  readonly clustered: boolean;
  readonly idIndex: boolean;
  readonly others: readonly string[];
}): string | undefined {
  if (opts.type !== 'collection') return `it is a ${opts.type}`;
  if (opts.collation) return 'it has a default collation';
  if (opts.clustered || !opts.idIndex) return 'it has no separate _id index';
  const taken = new RegExp(`^${opts.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}#\\d+$`);
  if (opts.others.some((o) => taken.test(o))) return 'another collection has a part name of it';
  return undefined;
}
