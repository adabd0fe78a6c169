/**
 * The writes a restore issues for the stored change records (payload.ts), as raw BSON: update and
 * delete statements for the `update` / `delete` commands, and whole commands for DDL. Every value
 * from the source is copied as bytes into the statements, so the target receives the same BSON
 * types, the same key order and the same bytes.
 *
 * Replay is idempotent, because the snapshot's tail (the events captured while the collections were
 * read) is replayed over documents that may already hold some of its changes, the way
 * `mongorestore --oplogReplay` applies an oplog over a dump taken with `--oplog`:
 *  - insert and replace: replace the document by its documentKey, inserting it when missing
 *    (`upsert`), with the event's fullDocument;
 *  - update: `$set` of updatedFields, `$unset` of removedFields and, first, the truncatedArrays as
 *    `$push: { f: { $each: [], $slice: newSize } }`; a path whose components are not plain
 *    (disambiguatedPaths: a field name holding a dot or starting with `$`) is written with an
 *    aggregation-pipeline update built from `$getField` / `$setField` / `$unsetField` on each
 *    component, with the value as `$literal`;
 *  - delete: delete one document by its documentKey;
 *  - drop (missing collection ignored), dropDatabase, rename (within the database; out of it is a
 *    drop), create, createIndexes, dropIndexes, modify (collMod) as the commands that did them.
 */
import {
  asDocument,
  asInteger,
  asString,
  buildArray,
  buildDocument,
  el,
  elements,
  field,
  T,
  type RawElement,
} from './bson-raw.js';
import type { ChangeRecord } from './payload.js';

/** A BSON value without a key: what an expression or a statement field holds. */
interface RawValue {
  readonly type: number;
  readonly value: Uint8Array;
}

export type WriteOp =
  /** `update` command statements `{ q, u, upsert }` on one collection, in order. */
  | { readonly kind: 'update'; readonly coll: string; readonly statements: readonly Uint8Array[] }
  /** `delete` command statements `{ q, limit: 1 }`. */
  | { readonly kind: 'delete'; readonly coll: string; readonly statements: readonly Uint8Array[] }
  /**
   * A command document for the target database (or `admin`), and the server error codes that mean
   * it has nothing to do (a drop of a collection that is not there).
   */
  | {
      readonly kind: 'command';
      readonly db: 'target' | 'admin';
      readonly command: Uint8Array;
      readonly what: string;
      readonly ignoreCodes?: readonly number[];
    }
  /** A change the target cannot be given: the restore refuses with this sentence. */
  | { readonly kind: 'unsupported'; readonly message: string };

/** Server error codes a replayed DDL command may meet when its effect is already there. */
export const CODES = { namespaceNotFound: 26, indexNotFound: 27, namespaceExists: 48 } as const;

const MAX_INT32 = 2_147_483_647;

export interface WriteContext {
  /** The source database the records were captured from. */
  readonly sourceDb: string;
  /** The database being restored into. */
  readonly targetDb: string;
}

/** The writes that replay one record, in order. Internal records and invalidate give none. */
export function writesOf(r: ChangeRecord, ctx: WriteContext): WriteOp[] {
  const coll = r.coll ?? '';
  switch (r.op) {
    case 'insert':
    case 'replace':
      return [upsertWhole(r, coll)];
    case 'update':
      return updateWrites(r, coll);
    case 'delete':
      if (!r.key) return [missing(r)];
      return [
        {
          kind: 'delete',
          coll,
          statements: [buildDocument([el.document('q', r.key), el.int32('limit', 1)])],
        },
      ];
    case 'drop':
      return [dropOf(coll)];
    case 'dropDatabase':
      return [
        {
          kind: 'command',
          db: 'target',
          command: buildDocument([el.int32('dropDatabase', 1)]),
          what: 'dropDatabase',
        },
      ];
    case 'rename': {
      if (r.db !== undefined && r.db !== ctx.sourceDb)
        return [
          {
            kind: 'unsupported',
            message: `Collection ${r.db}.${coll} was renamed into the database as ${r.toColl ?? '?'}; its documents were never in the change log, so a restore past that moment cannot be exact (take a snapshot after such a rename).`,
          },
        ];
      if (r.toDb !== undefined && r.toDb !== ctx.sourceDb) return [dropOf(coll)];
      const to =
        r.toColl ??
        (r.desc ? asString(field(asDocument(field(r.desc, 'to')) ?? empty(), 'coll')) : undefined);
      if (to === undefined) return [missing(r)];
      const dropTarget = r.desc ? field(r.desc, 'dropTarget') !== undefined : false;
      return [
        {
          kind: 'command',
          db: 'admin',
          command: buildDocument([
            el.string('renameCollection', `${ctx.targetDb}.${coll}`),
            el.string('to', `${ctx.targetDb}.${to}`),
            el.bool('dropTarget', dropTarget),
          ]),
          what: `rename ${coll} to ${to}`,
        },
      ];
    }
    case 'create':
      return [
        {
          kind: 'command',
          db: 'target',
          command: buildDocument([el.string('create', coll), ...(r.desc ? elements(r.desc) : [])]),
          what: `create ${coll}`,
          ignoreCodes: [CODES.namespaceExists],
        },
      ];
    case 'createIndexes': {
      const indexes = r.desc ? asDocument(field(r.desc, 'indexes')) : undefined;
      if (!indexes) return [missing(r)];
      const specs = [...elements(indexes)].map((s) => ({
        type: T.document,
        value: buildDocument([...elements(s.value)].filter((e) => e.name !== 'ns')),
      }));
      return [
        {
          kind: 'command',
          db: 'target',
          command: buildDocument([el.string('createIndexes', coll), el.array('indexes', buildArray(specs))]),
          what: `createIndexes on ${coll}`,
        },
      ];
    }
    case 'dropIndexes': {
      const indexes = r.desc ? asDocument(field(r.desc, 'indexes')) : undefined;
      if (!indexes) return [missing(r)];
      const names = [...elements(indexes)].map((s) => asString(field(s.value, 'name')) ?? '');
      return [
        {
          kind: 'command',
          db: 'target',
          command: buildDocument([
            el.string('dropIndexes', coll),
            el.array('index', buildArray(names.map((n) => el.string('', n)))),
          ]),
          what: `dropIndexes ${names.join(', ')} on ${coll}`,
          ignoreCodes: [CODES.indexNotFound, CODES.namespaceNotFound],
        },
      ];
    }
    case 'modify':
      if (!r.desc) return [missing(r)];
      return [
        {
          kind: 'command',
          db: 'target',
          command: buildDocument([el.string('collMod', coll), ...elements(r.desc)]),
          what: `collMod ${coll}`,
        },
      ];
    default:
      // invalidate ends a stream and changes nothing; sharding events (shardCollection,
      // reshardCollection, refineCollectionShardKey) change no document: a restore is unsharded
      return [];
  }
}

function empty(): Uint8Array {
  return buildDocument([]);
}

function missing(r: ChangeRecord): WriteOp {
  return {
    kind: 'unsupported',
    message: `A stored ${r.op} event of collection ${r.coll ?? '?'} lacks the fields needed to replay it (the stream ran without showExpandedEvents or on an older server).`,
  };
}

function dropOf(coll: string): WriteOp {
  return {
    kind: 'command',
    db: 'target',
    command: buildDocument([el.string('drop', coll)]),
    what: `drop ${coll}`,
    ignoreCodes: [CODES.namespaceNotFound],
  };
}

function upsertWhole(r: ChangeRecord, coll: string): WriteOp {
  if (!r.key || !r.doc) return missing(r);
  // a top-level field starting with `$` would read as an update operator in a replacement
  const dollar = [...elements(r.doc)].some((e) => e.name.startsWith('$'));
  const u: RawElement = dollar
    ? el.array(
        'u',
        buildArray([
          { type: T.document, value: doc1('$replaceWith', literal({ type: T.document, value: r.doc })) },
        ]),
      )
    : el.document('u', r.doc);
  return {
    kind: 'update',
    coll,
    statements: [buildDocument([el.document('q', r.key), u, el.bool('upsert', true)])],
  };
}

/** `{ name: value }` */
function doc1(name: string, v: RawValue): Uint8Array {
  return buildDocument([{ type: v.type, name, value: v.value }]);
}

function docValue(items: RawElement[]): RawValue {
  return { type: T.document, value: buildDocument(items) };
}

function literal(v: RawValue): RawValue {
  return docValue([{ type: v.type, name: '$literal', value: v.value }]);
}

function str(s: string): RawValue {
  const e = el.string('', s);
  return { type: e.type, value: e.value };
}

function int(n: number): RawValue {
  const e = el.int32('', n);
  return { type: e.type, value: e.value };
}

function named(name: string, v: RawValue): RawElement {
  return { type: v.type, name, value: v.value };
}

function arrayValue(items: RawValue[]): RawValue {
  return { type: T.array, value: buildArray(items) };
}

/** A path component: a field name, or an array index (a number in disambiguatedPaths). */
export type Component = string | number;

/** A field name as `$getField`/`$setField` take it: `$literal` when it starts with `$`. */
function fieldName(c: string): RawValue {
  return c.startsWith('$') ? literal(str(c)) : str(c);
}

const ROOT = str('$$ROOT');

function getAt(input: RawValue, c: Component): RawValue {
  if (typeof c === 'number') return docValue([named('$arrayElemAt', arrayValue([input, int(c)]))]);
  return docValue([named('$getField', docValue([named('field', fieldName(c)), named('input', input)]))]);
}

function setAt(input: RawValue, c: Component, value: RawValue): RawValue {
  if (typeof c === 'number')
    return docValue([
      named(
        '$concatArrays',
        arrayValue([
          docValue([named('$slice', arrayValue([input, int(c)]))]),
          arrayValue([value]),
          docValue([named('$slice', arrayValue([input, int(c + 1), int(MAX_INT32)]))]),
        ]),
      ),
    ]);
  return docValue([
    named(
      '$setField',
      docValue([named('field', fieldName(c)), named('input', input), named('value', value)]),
    ),
  ]);
}

/** The expression for `input` with the value at `path` replaced by `leaf(current value)`. */
function rewriteAt(
  input: RawValue,
  path: readonly Component[],
  leaf: (current: RawValue) => RawValue | 'unset',
): RawValue {
  const [c, ...rest] = path;
  if (c === undefined) throw new Error('empty update path');
  if (rest.length === 0) {
    const v = leaf(getAt(input, c));
    if (v !== 'unset') return setAt(input, c, v);
    if (typeof c === 'number')
      return setAt(input, c, docValue([named('$literal', { type: T.null, value: new Uint8Array(0) })]));
    return docValue([named('$unsetField', docValue([named('field', fieldName(c)), named('input', input)]))]);
  }
  return setAt(input, c, rewriteAt(getAt(input, c), rest, leaf));
}

/** Components of `path`: from disambiguatedPaths when it lists the path, else split at dots. */
function componentsOf(
  path: string,
  disambiguated: Uint8Array | undefined,
): { parts: Component[]; plain: boolean } {
  const listed = disambiguated ? asDocument(field(disambiguated, path)) : undefined;
  if (!listed) return { parts: path.split('.'), plain: true };
  const parts: Component[] = [...elements(listed)].map((e) =>
    e.type === T.string ? (asString(e) as string) : Number(asInteger(e) ?? 0n),
  );
  // numeric keys of objects and array indexes read the same on a target of the same shape; only
  // a name with a dot, or one starting with `$`, cannot be written as a dotted path
  const plain = parts.every(
    (p) => typeof p === 'number' || (!p.includes('.') && !p.startsWith('$') && p !== ''),
  );
  return { parts, plain };
}

function updateWrites(r: ChangeRecord, coll: string): WriteOp[] {
  if (!r.key || !r.upd) return [missing(r)];
  const upd = r.upd;
  const disambiguated = asDocument(field(upd, 'disambiguatedPaths'));
  const set: RawElement[] = [];
  const unset: RawElement[] = [];
  const push: RawElement[] = [];
  const stages: RawValue[] = [];
  const truncStages: RawValue[] = [];
  const stage = (path: Component[], leaf: (cur: RawValue) => RawValue | 'unset'): RawValue =>
    docValue([named('$replaceWith', rewriteAt(ROOT, path, leaf))]);

  const truncated = asDocument(field(upd, 'truncatedArrays'));
  for (const t of truncated ? elements(truncated) : []) {
    const f = asString(field(t.value, 'field')) ?? '';
    const size = Number(asInteger(field(t.value, 'newSize')) ?? 0n);
    const { parts, plain } = componentsOf(f, disambiguated);
    if (plain)
      push.push(
        named(parts.join('.'), docValue([named('$each', arrayValue([])), named('$slice', int(size))])),
      );
    else truncStages.push(stage(parts, (cur) => docValue([named('$slice', arrayValue([cur, int(size)]))])));
  }
  const updated = asDocument(field(upd, 'updatedFields'));
  for (const e of updated ? elements(updated) : []) {
    const { parts, plain } = componentsOf(e.name, disambiguated);
    if (plain) set.push(named(parts.join('.'), e));
    else stages.push(stage(parts, () => literal(e)));
  }
  const removed = asDocument(field(upd, 'removedFields'));
  for (const e of removed ? elements(removed) : []) {
    const name = asString(e) ?? '';
    const { parts, plain } = componentsOf(name, disambiguated);
    if (plain) unset.push(el.string(parts.join('.'), ''));
    else stages.push(stage(parts, () => 'unset'));
  }

  const statements: Uint8Array[] = [];
  const q = el.document('q', r.key);
  const pipeline = (s: RawValue[]): Uint8Array =>
    buildDocument([q, el.array('u', buildArray(s)), el.bool('upsert', false)]);
  if (push.length)
    statements.push(
      buildDocument([
        q,
        el.document('u', buildDocument([el.document('$push', buildDocument(push))])),
        el.bool('upsert', false),
      ]),
    );
  if (truncStages.length) statements.push(pipeline(truncStages));
  if (set.length || unset.length) {
    const ops: RawElement[] = [];
    if (set.length) ops.push(el.document('$set', buildDocument(set)));
    if (unset.length) ops.push(el.document('$unset', buildDocument(unset)));
    statements.push(buildDocument([q, el.document('u', buildDocument(ops)), el.bool('upsert', false)]));
  }
  if (stages.length) statements.push(pipeline(stages));
  return statements.length ? [{ kind: 'update', coll, statements }] : [];
}
