import { MalformedEvent } from './errors.js';
import { parseJsonBinary, type JsonNode } from './json-binary.js';
import type { ByteReader } from './reader.js';

/**
 * The JSON diffs of a PARTIAL_UPDATE_ROWS after image (binlog_row_value_options=PARTIAL_JSON):
 * a list of (operation, path, binary JSON value) applied to the column's before image, so the
 * decoder can hand out the whole new document as every other JSON value is handed out.
 */

const OP_REPLACE = 0;
const OP_INSERT = 1;
const OP_REMOVE = 2;

export interface JsonDiff {
  readonly op: 'replace' | 'insert' | 'remove';
  readonly path: string;
  readonly value?: JsonNode;
}

/** Reads the diffs that fill `length` bytes. */
export function readJsonDiffs(r: ByteReader, length: number): JsonDiff[] {
  const end = r.pos + length;
  const diffs: JsonDiff[] = [];
  while (r.pos < end) {
    const code = r.u8('a JSON diff operation');
    const op = code === OP_REPLACE ? 'replace' : code === OP_INSERT ? 'insert' : code === OP_REMOVE ? 'remove' : undefined;
    if (!op) throw new MalformedEvent(`JSON diff has operation ${code}; MySQL writes 0 (replace), 1 (insert) or 2 (remove).`);
    const path = r.utf8(r.lenencSize('a JSON diff path length'), 'a JSON diff path');
    if (op === 'remove') {
      diffs.push({ op, path });
      continue;
    }
    const value = parseJsonBinary(r.bytes(r.lenencSize('a JSON diff value length'), 'a JSON diff value'));
    diffs.push({ op, path, value });
  }
  if (r.pos !== end) throw new MalformedEvent(`JSON diffs run ${r.pos - end} bytes past the length their column gives.`);
  return diffs;
}

type Leg = { readonly key: string } | { readonly index: number; readonly fromEnd: boolean };

/** `$`, `.key`, `."quoted key"`, `[3]`, `[last]`, `[last-2]`: the paths MySQL writes into diffs. */
export function parseJsonPath(path: string): Leg[] {
  const bad = (): never => {
    throw new MalformedEvent(`JSON diff path ${JSON.stringify(path)} is not a path to one value.`);
  };
  let i = 0;
  const s = path.trim();
  if (s[i] !== '$') bad();
  i++;
  const legs: Leg[] = [];
  while (i < s.length) {
    const c = s[i];
    if (c === '.') {
      i++;
      if (s[i] === '"') {
        let j = i + 1;
        while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1;
        if (j >= s.length) bad();
        legs.push({ key: JSON.parse(s.slice(i, j + 1)) as string });
        i = j + 1;
      } else {
        const m = /^[^.[\s*]+/.exec(s.slice(i));
        if (!m) bad();
        legs.push({ key: m![0] });
        i += m![0].length;
      }
    } else if (c === '[') {
      const close = s.indexOf(']', i);
      if (close < 0) bad();
      const inner = s.slice(i + 1, close).replace(/\s+/g, '');
      const last = /^last(?:-(\d+))?$/.exec(inner);
      if (last) legs.push({ index: Number(last[1] ?? 0), fromEnd: true });
      else if (/^\d+$/.test(inner)) legs.push({ index: Number(inner), fromEnd: false });
      else bad();
      i = close + 1;
    } else if (c === ' ') {
      i++;
    } else {
      bad();
    }
  }
  return legs;
}

/** MySQL keeps object keys ordered by length, then by bytes. */
function keyOrder(a: string, b: string): number {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return ba.length - bb.length || Buffer.compare(ba, bb);
}

export function applyJsonDiffs(doc: JsonNode, diffs: readonly JsonDiff[]): JsonNode {
  let root = doc;
  for (const d of diffs) root = applyOne(root, d);
  return root;
}

function applyOne(root: JsonNode, d: JsonDiff): JsonNode {
  const legs = parseJsonPath(d.path);
  const missing = (): never => {
    throw new MalformedEvent(`JSON diff ${d.op}s ${d.path}, which the before image does not hold.`);
  };
  if (legs.length === 0) {
    if (d.op !== 'replace' || !d.value) return missing();
    return d.value;
  }
  let parent = root;
  for (const leg of legs.slice(0, -1)) parent = child(parent, leg) ?? missing();
  const leg = legs[legs.length - 1]!;
  if ('key' in leg) {
    if (parent.k !== 'object') return missing();
    const at = parent.entries.findIndex(([k]) => k === leg.key);
    if (d.op === 'remove') {
      if (at < 0) return missing();
      parent.entries.splice(at, 1);
    } else if (at >= 0) {
      parent.entries[at] = [leg.key, d.value!];
    } else {
      let pos = parent.entries.findIndex(([k]) => keyOrder(k, leg.key) > 0);
      if (pos < 0) pos = parent.entries.length;
      parent.entries.splice(pos, 0, [leg.key, d.value!]);
    }
    return root;
  }
  if (parent.k !== 'array') return missing();
  const n = parent.items.length;
  const index = leg.fromEnd ? n - 1 - leg.index : leg.index;
  if (d.op === 'insert') {
    parent.items.splice(Math.max(0, Math.min(index, n)), 0, d.value!);
  } else {
    if (index < 0 || index >= n) return missing();
    if (d.op === 'remove') parent.items.splice(index, 1);
    else parent.items[index] = d.value!;
  }
  return root;
}

function child(node: JsonNode, leg: Leg): JsonNode | undefined {
  if ('key' in leg) return node.k === 'object' ? node.entries.find(([k]) => k === leg.key)?.[1] : undefined;
  if (node.k !== 'array') return undefined;
  return node.items[leg.fromEnd ? node.items.length - 1 - leg.index : leg.index];
}
