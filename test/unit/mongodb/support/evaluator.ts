/**
 * Test support: a small, exact evaluator of the writes drivers/mongodb/internal/writes.ts
 * generates, over in-memory collections. It knows only what the replay issues — replacement
 * upserts, `$set`, `$unset`, `$push { $each: [], $slice }`, pipeline updates of `$replaceWith`
 * over `$$ROOT`, `$literal`, `$getField`, `$setField`, `$unsetField`, `$arrayElemAt`, `$slice`,
 * `$concatArrays`, delete by key, and the DDL commands — and throws on anything else, so a write
 * it cannot check fails the test instead of passing unseen.
 *
 * Values keep their BSON bytes: a leaf is its type and value bytes, documents are ordered lists
 * of fields, so the result can be compared byte for byte with an expected document. Matching a
 * filter compares types and bytes exactly (stricter than the server, which matches 1 and 1.0).
 */
import {
  arrayItems,
  asString,
  buildArray,
  buildDocument,
  elements,
  sameBytes,
  T,
  type RawElement,
} from '../../../../drivers/mongodb/internal/bson-raw.js';
import type { WriteOp } from '../../../../drivers/mongodb/internal/writes.js';

export type V =
  | { readonly k: 'doc'; readonly f: Array<[string, V]> }
  | { readonly k: 'arr'; readonly a: V[] }
  | { readonly k: 'leaf'; readonly type: number; readonly bytes: Uint8Array };
type Doc = Extract<V, { k: 'doc' }>;

const NULL: V = { k: 'leaf', type: T.null, bytes: new Uint8Array(0) };

export function fromElement(e: { type: number; value: Uint8Array }): V {
  if (e.type === T.document) return decode(e.value);
  if (e.type === T.array) return { k: 'arr', a: arrayItems(e.value).map(fromElement) };
  return { k: 'leaf', type: e.type, bytes: e.value };
}

export function decode(doc: Uint8Array): Doc {
  return { k: 'doc', f: [...elements(doc)].map((e) => [e.name, fromElement(e)] as [string, V]) };
}

function toValue(v: V): { type: number; value: Uint8Array } {
  if (v.k === 'doc') return { type: T.document, value: encode(v) };
  if (v.k === 'arr') return { type: T.array, value: buildArray(v.a.map(toValue)) };
  return { type: v.type, value: v.bytes };
}

export function encode(d: Doc): Uint8Array {
  return buildDocument(d.f.map(([name, v]) => ({ name, ...toValue(v) })));
}

function equal(a: V, b: V): boolean {
  const x = toValue(a);
  const y = toValue(b);
  return x.type === y.type && sameBytes(x.value, y.value);
}

function num(v: V | undefined): number {
  if (v?.k !== 'leaf') throw new Error('expected a number');
  const dv = new DataView(v.bytes.buffer, v.bytes.byteOffset, v.bytes.byteLength);
  if (v.type === T.int32) return dv.getInt32(0, true);
  if (v.type === T.int64) return Number(dv.getBigInt64(0, true));
  if (v.type === T.double) return dv.getFloat64(0, true);
  throw new Error(`expected a number, got type ${v.type}`);
}

function text(v: V | undefined): string {
  if (v?.k !== 'leaf' || v.type !== T.string) throw new Error('expected a string');
  return asString({ type: v.type, name: '', value: v.bytes }) as string;
}

function get(d: Doc, name: string): V | undefined {
  return d.f.find(([n]) => n === name)?.[1];
}

function setField(d: Doc, name: string, v: V): Doc {
  const i = d.f.findIndex(([n]) => n === name);
  const f = [...d.f];
  if (i >= 0) f[i] = [name, v];
  else f.push([name, v]);
  return { k: 'doc', f };
}

function unsetField(d: Doc, name: string): Doc {
  return { k: 'doc', f: d.f.filter(([n]) => n !== name) };
}

/** `$set` of one dotted path, as the server does on documents and arrays. */
function setPath(v: V, parts: readonly string[], value: V): V {
  const [c, ...rest] = parts as [string, ...string[]];
  if (v.k === 'arr' && /^\d+$/.test(c)) {
    const idx = Number(c);
    const a = [...v.a];
    while (a.length < idx) a.push(NULL);
    a[idx] = rest.length ? setPath(a[idx] ?? { k: 'doc', f: [] }, rest, value) : value;
    return { k: 'arr', a };
  }
  if (v.k !== 'doc') throw new Error(`cannot set ${parts.join('.')} inside a non-document`);
  const child = get(v, c);
  return setField(v, c, rest.length ? setPath(child ?? { k: 'doc', f: [] }, rest, value) : value);
}

function unsetPath(v: V, parts: readonly string[]): V {
  const [c, ...rest] = parts as [string, ...string[]];
  if (v.k === 'arr' && /^\d+$/.test(c)) {
    const idx = Number(c);
    if (idx >= v.a.length) return v;
    const a = [...v.a];
    a[idx] = rest.length ? unsetPath(a[idx] as V, rest) : NULL;
    return { k: 'arr', a };
  }
  if (v.k !== 'doc') return v;
  const child = get(v, c);
  if (child === undefined) return v;
  return rest.length ? setField(v, c, unsetPath(child, rest)) : unsetField(v, c);
}

function getPath(v: V | undefined, parts: readonly string[]): V | undefined {
  let cur = v;
  for (const c of parts) {
    if (cur?.k === 'doc') cur = get(cur, c);
    else if (cur?.k === 'arr' && /^\d+$/.test(c)) cur = cur.a[Number(c)];
    else return undefined;
  }
  return cur;
}

function only(d: Doc): [string, V] {
  if (d.f.length !== 1) throw new Error(`expected one operator, got ${d.f.map(([n]) => n).join(', ')}`);
  return d.f[0] as [string, V];
}

/** Evaluates an aggregation expression of the subset the replay generates. */
function evaluate(expr: V, root: Doc): V | undefined {
  if (expr.k === 'leaf') {
    if (expr.type === T.string) {
      const s = text(expr);
      if (s === '$$ROOT') return root;
      if (s.startsWith('$')) throw new Error(`evaluator: field path ${s} is not generated by the replay`);
    }
    return expr;
  }
  if (expr.k === 'arr') return { k: 'arr', a: expr.a.map((x) => evaluate(x, root) ?? NULL) };
  const [op, arg] = only(expr);
  const args = (): V[] => {
    if (arg.k !== 'arr') throw new Error(`${op} takes an array`);
    return arg.a;
  };
  const named = (n: string): V | undefined => (arg.k === 'doc' ? get(arg, n) : undefined);
  const fieldName = (): string => {
    const f = named('field');
    if (!f) throw new Error(`${op} without field`);
    const v = evaluate(f, root);
    return text(v);
  };
  switch (op) {
    case '$literal':
      return arg;
    case '$getField': {
      const input = evaluate(named('input') as V, root);
      return input?.k === 'doc' ? get(input, fieldName()) : undefined;
    }
    case '$setField': {
      const input = evaluate(named('input') as V, root);
      if (input?.k !== 'doc') throw new Error('$setField input is not a document');
      return setField(input, fieldName(), evaluate(named('value') as V, root) ?? NULL);
    }
    case '$unsetField': {
      const input = evaluate(named('input') as V, root);
      if (input?.k !== 'doc') throw new Error('$unsetField input is not a document');
      return unsetField(input, fieldName());
    }
    case '$arrayElemAt': {
      const [a, i] = args();
      const arr = evaluate(a as V, root);
      return arr?.k === 'arr' ? arr.a[num(evaluate(i as V, root))] : undefined;
    }
    case '$slice': {
      const [a, p, n] = args();
      const arr = evaluate(a as V, root);
      if (arr?.k !== 'arr') return NULL;
      const first = num(evaluate(p as V, root));
      if (n === undefined) return { k: 'arr', a: arr.a.slice(0, first) };
      return { k: 'arr', a: arr.a.slice(first, first + num(evaluate(n, root))) };
    }
    case '$concatArrays': {
      const out: V[] = [];
      for (const part of args()) {
        const v = evaluate(part, root);
        if (v?.k !== 'arr') return NULL;
        out.push(...v.a);
      }
      return { k: 'arr', a: out };
    }
    default:
      throw new Error(`evaluator: expression ${op} is not generated by the replay`);
  }
}

function applyUpdate(doc: Doc, u: V): Doc {
  if (u.k === 'arr') {
    let cur: Doc = doc;
    for (const stage of u.a) {
      if (stage.k !== 'doc') throw new Error('pipeline stage is not a document');
      const [name, expr] = only(stage);
      if (name !== '$replaceWith') throw new Error(`evaluator: stage ${name} is not generated by the replay`);
      const next = evaluate(expr, cur);
      if (next?.k !== 'doc') throw new Error('$replaceWith gave no document');
      cur = next;
    }
    return cur;
  }
  if (u.k !== 'doc') throw new Error('update is not a document');
  if (!u.f.some(([n]) => n.startsWith('$'))) {
    // replacement: _id stays first, as the server keeps it
    const id = get(doc, '_id');
    const rest = u.f.filter(([n]) => n !== '_id');
    return { k: 'doc', f: id ? [['_id', id], ...rest] : [...u.f] };
  }
  let cur: V = doc;
  for (const [op, spec] of u.f) {
    if (spec.k !== 'doc') throw new Error(`${op} takes a document`);
    for (const [path, v] of spec.f) {
      const parts = path.split('.');
      if (op === '$set') cur = setPath(cur, parts, v);
      else if (op === '$unset') cur = unsetPath(cur, parts);
      else if (op === '$push') {
        if (v.k !== 'doc') throw new Error('$push spec');
        const each = get(v, '$each');
        const slice = get(v, '$slice');
        if (each?.k !== 'arr' || each.a.length || v.f.length !== 2 || !slice)
          throw new Error('evaluator: only $push { $each: [], $slice: n } is generated by the replay');
        const arr = getPath(cur, parts);
        if (arr?.k === 'arr') cur = setPath(cur, parts, { k: 'arr', a: arr.a.slice(0, num(slice)) });
      } else throw new Error(`evaluator: update operator ${op} is not generated by the replay`);
    }
  }
  if (cur.k !== 'doc') throw new Error('update left no document');
  return cur;
}

function matches(doc: Doc, q: Doc): boolean {
  return q.f.every(([n, v]) => {
    const have = get(doc, n);
    return have !== undefined && equal(have, v);
  });
}

export interface Collection {
  docs: Doc[];
  indexes: Map<string, Uint8Array>;
  options: Uint8Array;
}

export class Evaluator {
  readonly collections = new Map<string, Collection>();

  constructor(readonly targetDb = 'restored') {}

  private coll(name: string, create = true): Collection {
    let c = this.collections.get(name);
    if (!c && create) {
      c = { docs: [], indexes: new Map(), options: buildDocument([]) };
      this.collections.set(name, c);
    }
    if (!c) throw new Error(`no collection ${name}`);
    return c;
  }

  /** The documents of a collection, as bytes, in natural order. */
  documents(name: string): Uint8Array[] {
    return (this.collections.get(name)?.docs ?? []).map(encode);
  }

  load(name: string, docs: readonly Uint8Array[]): void {
    this.coll(name).docs.push(...docs.map(decode));
  }

  apply(op: WriteOp): void {
    if (op.kind === 'unsupported') throw new Error(op.message);
    if (op.kind === 'update') {
      const c = this.coll(op.coll);
      for (const s of op.statements) {
        const st = decode(s);
        const q = get(st, 'q');
        const u = get(st, 'u');
        const upsertV = get(st, 'upsert');
        const upsert = upsertV?.k === 'leaf' && upsertV.bytes[0] === 1;
        if (q?.k !== 'doc' || !u) throw new Error('update statement without q or u');
        const i = c.docs.findIndex((d) => matches(d, q));
        if (i >= 0) c.docs[i] = applyUpdate(c.docs[i] as Doc, u);
        else if (upsert) c.docs.push(applyUpdate({ k: 'doc', f: q.f.filter(([n]) => n === '_id') }, u));
      }
      return;
    }
    if (op.kind === 'delete') {
      const c = this.coll(op.coll);
      for (const s of op.statements) {
        const q = get(decode(s), 'q');
        if (q?.k !== 'doc') throw new Error('delete statement without q');
        const i = c.docs.findIndex((d) => matches(d, q));
        if (i >= 0) c.docs.splice(i, 1);
      }
      return;
    }
    this.command(decode(op.command), op.ignoreCodes ?? []);
  }

  private command(cmd: Doc, ignore: readonly number[]): void {
    const [name, arg] = cmd.f[0] as [string, V];
    const fail = (code: number, msg: string): void => {
      if (!ignore.includes(code)) throw new Error(`${name}: ${msg} (code ${code})`);
    };
    switch (name) {
      case 'create': {
        const n = text(arg);
        if (this.collections.has(n)) return fail(48, `collection ${n} exists`);
        const c = this.coll(n);
        c.options = encode({ k: 'doc', f: cmd.f.slice(1) });
        return;
      }
      case 'drop': {
        const n = text(arg);
        if (!this.collections.delete(n)) fail(26, `no collection ${n}`);
        return;
      }
      case 'dropDatabase':
        this.collections.clear();
        return;
      case 'renameCollection': {
        const strip = (s: string): string => s.slice(this.targetDb.length + 1);
        const from = strip(text(arg));
        const to = strip(text(get(cmd, 'to')));
        const c = this.collections.get(from);
        if (!c) return fail(26, `no collection ${from}`);
        const dropTarget = get(cmd, 'dropTarget');
        if (this.collections.has(to) && !(dropTarget?.k === 'leaf' && dropTarget.bytes[0] === 1))
          return fail(48, `target ${to} exists`);
        this.collections.delete(from);
        this.collections.set(to, c);
        return;
      }
      case 'createIndexes': {
        const c = this.coll(text(arg));
        const specs = get(cmd, 'indexes');
        if (specs?.k !== 'arr') throw new Error('createIndexes without indexes');
        for (const s of specs.a) if (s.k === 'doc') c.indexes.set(text(get(s, 'name')), encode(s));
        return;
      }
      case 'dropIndexes': {
        const c = this.collections.get(text(arg));
        if (!c) return fail(26, 'no collection');
        const names = get(cmd, 'index');
        for (const n of names?.k === 'arr' ? names.a : [])
          if (!c.indexes.delete(text(n))) fail(27, 'no index');
        return;
      }
      case 'collMod': {
        const c = this.coll(text(arg), false);
        let opts = decode(c.options);
        for (const [k, v] of cmd.f.slice(1)) {
          if (k === 'index' && v.k === 'doc') {
            const idxName = text(get(v, 'name'));
            const spec = c.indexes.get(idxName);
            if (!spec) return fail(27, `no index ${idxName}`);
            let s = decode(spec);
            for (const [ik, iv] of v.f) if (ik !== 'name') s = setField(s, ik, iv);
            c.indexes.set(idxName, encode(s));
          } else opts = setField(opts, k, v);
        }
        c.options = encode(opts);
        return;
      }
      default:
        throw new Error(`evaluator: command ${name} is not generated by the replay`);
    }
  }
}

export type { RawElement };
