/**
 * Test support: the change events a server emits for recorded oplog entries, following MongoDB's
 * documented mapping (https://www.mongodb.com/docs/manual/reference/change-events/), so that
 * recorded oplogs (../shared/fixtures/mongodb) can drive the stream's assembly and the restore's
 * writes without a server:
 *  - `i` -> insert { documentKey: { _id }, fullDocument: o }
 *  - `u` with update operators (oplog v1: `$set`, `$unset`) -> update { documentKey: o2,
 *    updateDescription { updatedFields: $set, removedFields: keys of $unset, truncatedArrays: [] } };
 *    `u` with a whole document -> replace { documentKey: o2, fullDocument: o }
 *  - `d` -> delete { documentKey: o }
 *  - `c` `create` -> create (operationDescription: the options), `createIndexes` and
 *    `commitIndexBuild` -> createIndexes { operationDescription: { indexes } }, `startIndexBuild`
 *    and `n` (no-ops) -> nothing, `drop` -> drop
 *  - `c` `applyOps` of a transaction (`lsid` + `txnNumber`, no `multiOpType`): its operations as
 *    events carrying `lsid` and `txnNumber`, emitted when the transaction commits: at the entry
 *    without `partialTxn`/`prepare` (each event with the cluster time of the entry that staged
 *    it), or at `commitTransaction` for a prepared one (with the commit entry's time); nothing
 *    when it aborts (`abortTransaction`)
 *  - `c` `applyOps` outside a transaction: its operations as events without `lsid`, sharing the
 *    entry's cluster time (how 8.0 reports a batched write)
 */
import { BSON, Binary, Long, Timestamp } from 'mongodb';

type Doc = Record<string, unknown>;

interface Ctx {
  readonly lsid?: unknown;
  readonly txnNumber?: unknown;
}

let counter = 0;

function token(ts: Timestamp, n: number): string {
  const hex = (x: number): string => x.toString(16).toUpperCase().padStart(8, '0');
  return `82${hex(ts.high)}${hex(ts.low)}2B04${hex(n)}04`;
}

function splitNs(ns: string): { db: string; coll: string } {
  const dot = ns.indexOf('.');
  return { db: ns.slice(0, dot), coll: ns.slice(dot + 1) };
}

function event(op: string, ts: Timestamp, ns: { db: string; coll?: string }, ctx: Ctx, rest: Doc): Doc {
  return {
    _id: { _data: token(ts, counter++) },
    operationType: op,
    clusterTime: ts,
    wallTime: new Date(ts.high * 1000),
    ...(ctx.lsid ? { lsid: ctx.lsid, txnNumber: ctx.txnNumber } : {}),
    ns,
    ...rest,
  };
}

function crud(o: Doc, ts: Timestamp, ctx: Ctx): Doc[] {
  const ns = splitNs(String(o.ns));
  const body = o.o as Doc;
  switch (o.op) {
    case 'i':
      return [event('insert', ts, ns, ctx, { documentKey: { _id: body._id }, fullDocument: body })];
    case 'd':
      return [event('delete', ts, ns, ctx, { documentKey: body })];
    case 'u': {
      const ops = Object.keys(body).filter((k) => k.startsWith('$'));
      if (ops.length === 0) return [event('replace', ts, ns, ctx, { documentKey: o.o2, fullDocument: body })];
      const unknown = ops.filter((k) => k !== '$set' && k !== '$unset');
      if (unknown.length) throw new Error(`oplog update with ${unknown.join(', ')} is not mapped`);
      return [
        event('update', ts, ns, ctx, {
          documentKey: o.o2,
          updateDescription: {
            updatedFields: body.$set ?? {},
            removedFields: Object.keys((body.$unset as Doc | undefined) ?? {}),
            truncatedArrays: [],
          },
        }),
      ];
    }
    default:
      return [];
  }
}

function command(o: Doc, ts: Timestamp, ctx: Ctx): Doc[] {
  const db = splitNs(String(o.ns)).db;
  const body = o.o as Doc;
  if (typeof body.create === 'string') {
    const { create, ...desc } = body;
    return [
      event('create', ts, { db, coll: create as string }, ctx, {
        operationDescription: desc,
        nsType: 'collection',
      }),
    ];
  }
  if (typeof body.createIndexes === 'string') {
    const { createIndexes, ...spec } = body;
    return [
      event('createIndexes', ts, { db, coll: createIndexes as string }, ctx, {
        operationDescription: { indexes: [spec] },
      }),
    ];
  }
  if (typeof body.commitIndexBuild === 'string')
    return [
      event('createIndexes', ts, { db, coll: body.commitIndexBuild }, ctx, {
        operationDescription: { indexes: body.indexes },
      }),
    ];
  if (typeof body.drop === 'string') return [event('drop', ts, { db, coll: body.drop }, ctx, {})];
  return [];
}

function lsidKey(o: Doc): string {
  return `${BSON.EJSON.stringify(o.lsid as Doc)}/${String(o.txnNumber)}`;
}

/** The raw change events a server emits for `entries` (EJSON-parsed oplog entries), in order. */
export function oplogToEvents(entries: readonly Doc[]): Uint8Array[] {
  const out: Doc[] = [];
  const staged = new Map<string, Array<{ ts: Timestamp; ops: Doc[] }>>();
  for (const e of entries) {
    const ts = e.ts as Timestamp;
    if (e.op === 'n') continue;
    if (e.op !== 'c') {
      out.push(...crud(e, ts, {}));
      continue;
    }
    const body = e.o as Doc;
    const inTxn = e.lsid !== undefined && e.txnNumber !== undefined && e.multiOpType === undefined;
    if (Array.isArray(body.applyOps)) {
      const ops = body.applyOps as Doc[];
      if (!inTxn) {
        for (const op of ops) out.push(...crud(op, ts, {}));
        continue;
      }
      const key = lsidKey(e);
      const list = staged.get(key) ?? [];
      list.push({ ts, ops });
      if (body.partialTxn || body.prepare) {
        staged.set(key, list);
        continue;
      }
      staged.delete(key);
      const ctx = { lsid: e.lsid, txnNumber: e.txnNumber };
      for (const s of list) for (const op of s.ops) out.push(...crud(op, s.ts, ctx));
      continue;
    }
    if (body.commitTransaction !== undefined) {
      const key = lsidKey(e);
      const list = staged.get(key) ?? [];
      staged.delete(key);
      const ctx = { lsid: e.lsid, txnNumber: e.txnNumber };
      for (const s of list) for (const op of s.ops) out.push(...crud(op, ts, ctx));
      continue;
    }
    if (body.abortTransaction !== undefined) {
      staged.delete(lsidKey(e));
      continue;
    }
    out.push(...command(e, ts, {}));
  }
  return out.map((d) => BSON.serialize(d));
}

/** EJSON text (canonical or legacy `$binary`/`$type`) into values that keep their BSON types. */
export function parseEjson<T = Doc>(text: string): T {
  // the legacy binary form {"$binary": "<base64>", "$type": "<hex>"} written as the canonical one
  const canonical = text.replace(
    /\{\s*"\$binary"\s*:\s*"([^"]*)"\s*,\s*"\$type"\s*:\s*"([0-9a-fA-F]{1,2})"\s*\}/g,
    (_m, b64: string, type: string) => `{"$binary":{"base64":"${b64}","subType":"${type.padStart(2, '0')}"}}`,
  );
  return BSON.EJSON.parse(canonical, { relaxed: false }) as T;
}

export { Binary, Long, Timestamp };
