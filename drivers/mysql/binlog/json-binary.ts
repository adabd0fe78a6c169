import { decodeDecimal } from './decimal.js';
import { MalformedEvent } from './errors.js';
import { packedDatetimeText } from './temporal.js';
import { ColumnType } from './types.js';

/**
 * MySQL's binary JSON (sql-common/json_binary.cc, WL#8132) decoded to a small tree, rendered as
 * the JSON text MySQL itself prints (`{"a": 1, "b": [true, null]}`), and edited by the JSON diffs
 * of PARTIAL_UPDATE_ROWS events (json-diff.ts). Every offset is checked against the value's end.
 */

export type JsonNode =
  | { readonly k: 'object'; readonly entries: Array<[string, JsonNode]> }
  | { readonly k: 'array'; readonly items: JsonNode[] }
  /** A scalar, already as JSON text (number, string, literal or opaque rendering). */
  | { readonly k: 'scalar'; readonly text: string };

const T = {
  SMALL_OBJECT: 0x00,
  LARGE_OBJECT: 0x01,
  SMALL_ARRAY: 0x02,
  LARGE_ARRAY: 0x03,
  LITERAL: 0x04,
  INT16: 0x05,
  UINT16: 0x06,
  INT32: 0x07,
  UINT32: 0x08,
  INT64: 0x09,
  UINT64: 0x0a,
  DOUBLE: 0x0b,
  STRING: 0x0c,
  OPAQUE: 0x0f,
} as const;
const LITERAL_NULL = 0;
const LITERAL_TRUE = 1;
const LITERAL_FALSE = 2;
const KEY_LENGTH_BYTES = 2;
const MAX_DEPTH = 150;

/** The whole binary value of a JSON column; an empty value is JSON null (MySQL does the same). */
export function parseJsonBinary(buf: Buffer): JsonNode {
  if (buf.length === 0) return { k: 'scalar', text: 'null' };
  return parseValue(buf[0]!, buf, 1, buf.length, 0);
}

export function jsonBinaryToText(buf: Buffer): string {
  return renderJson(parseJsonBinary(buf));
}

function fail(reason: string): never {
  throw new MalformedEvent(`JSON value is malformed: ${reason}.`);
}

function parseValue(type: number, buf: Buffer, start: number, end: number, depth: number): JsonNode {
  if (depth > MAX_DEPTH) fail(`nested deeper than ${MAX_DEPTH}`);
  const need = (n: number): void => {
    if (start + n > end) fail(`a value of type 0x${type.toString(16)} needs ${n} bytes at ${start}, only ${end - start} left`);
  };
  switch (type) {
    case T.SMALL_OBJECT:
    case T.LARGE_OBJECT:
      return parseContainer(buf, start, end, type === T.LARGE_OBJECT, true, depth);
    case T.SMALL_ARRAY:
    case T.LARGE_ARRAY:
      return parseContainer(buf, start, end, type === T.LARGE_ARRAY, false, depth);
    case T.LITERAL: {
      need(1);
      const v = buf[start]!;
      if (v === LITERAL_NULL) return { k: 'scalar', text: 'null' };
      if (v === LITERAL_TRUE) return { k: 'scalar', text: 'true' };
      if (v === LITERAL_FALSE) return { k: 'scalar', text: 'false' };
      return fail(`unknown literal ${v}`);
    }
    case T.INT16:
      need(2);
      return { k: 'scalar', text: String(buf.readInt16LE(start)) };
    case T.UINT16:
      need(2);
      return { k: 'scalar', text: String(buf.readUInt16LE(start)) };
    case T.INT32:
      need(4);
      return { k: 'scalar', text: String(buf.readInt32LE(start)) };
    case T.UINT32:
      need(4);
      return { k: 'scalar', text: String(buf.readUInt32LE(start)) };
    case T.INT64:
      need(8);
      return { k: 'scalar', text: String(buf.readBigInt64LE(start)) };
    case T.UINT64:
      need(8);
      return { k: 'scalar', text: String(buf.readBigUInt64LE(start)) };
    case T.DOUBLE:
      need(8);
      return { k: 'scalar', text: doubleText(buf.readDoubleLE(start)) };
    case T.STRING: {
      const [len, at] = varlen(buf, start, end);
      if (at + len > end) fail(`a string of ${len} bytes runs past the end`);
      return { k: 'scalar', text: JSON.stringify(buf.toString('utf8', at, at + len)) };
    }
    case T.OPAQUE: {
      need(1);
      const fieldType = buf[start]!;
      const [len, at] = varlen(buf, start + 1, end);
      if (at + len > end) fail(`an opaque value of ${len} bytes runs past the end`);
      return { k: 'scalar', text: opaqueText(fieldType, buf.subarray(at, at + len)) };
    }
    default:
      return fail(`unknown value type 0x${type.toString(16)}`);
  }
}

function parseContainer(buf: Buffer, start: number, end: number, large: boolean, isObject: boolean, depth: number): JsonNode {
  const w = large ? 4 : 2;
  const read = (at: number): number => {
    if (at + w > end) fail(`an ${isObject ? 'object' : 'array'} header runs past the end`);
    return large ? buf.readUInt32LE(at) : buf.readUInt16LE(at);
  };
  const count = read(start);
  const size = read(start + w);
  if (start + size > end) fail(`an ${isObject ? 'object' : 'array'} of ${size} bytes runs past the end`);
  const limit = start + size;
  const keyEntries = start + 2 * w;
  const valueEntries = keyEntries + (isObject ? count * (w + KEY_LENGTH_BYTES) : 0);
  const valueEntrySize = 1 + w;
  if (valueEntries + count * valueEntrySize > limit) fail(`${count} entries do not fit in ${size} bytes`);
  const values: JsonNode[] = [];
  for (let i = 0; i < count; i++) {
    const e = valueEntries + i * valueEntrySize;
    const type = buf[e]!;
    if (inlined(type, large)) {
      values.push(parseValue(type, buf, e + 1, e + 1 + w, depth + 1));
    } else {
      const offset = read(e + 1);
      if (offset >= size) fail(`a value offset ${offset} points outside its container of ${size} bytes`);
      values.push(parseValue(type, buf, start + offset, limit, depth + 1));
    }
  }
  if (!isObject) return { k: 'array', items: values };
  const entries: Array<[string, JsonNode]> = [];
  for (let i = 0; i < count; i++) {
    const e = keyEntries + i * (w + KEY_LENGTH_BYTES);
    const offset = read(e);
    const len = buf.readUInt16LE(e + w);
    if (offset + len > size) fail(`a key at offset ${offset} runs past its object`);
    entries.push([buf.toString('utf8', start + offset, start + offset + len), values[i]!]);
  }
  return { k: 'object', entries };
}

function inlined(type: number, large: boolean): boolean {
  if (type === T.LITERAL || type === T.INT16 || type === T.UINT16) return true;
  return large && (type === T.INT32 || type === T.UINT32);
}

/** Variable-length unsigned integer of binary JSON: 7 bits a byte, low bits first, at most 5 bytes. */
function varlen(buf: Buffer, start: number, end: number): [number, number] {
  let v = 0;
  for (let i = 0; i < 5; i++) {
    if (start + i >= end) fail('a length runs past the end');
    const b = buf[start + i]!;
    v += (b & 0x7f) * 2 ** (7 * i);
    if ((b & 0x80) === 0) return [v, start + i + 1];
  }
  return fail('a length is longer than 5 bytes');
}

/** A double as MySQL prints it in JSON: shortest round-trip form, `1.0` not `1`, `1e21` not `1e+21`. */
export function doubleText(d: number): string {
  if (!Number.isFinite(d)) fail(`a double is ${d}, which JSON cannot hold`);
  if (Object.is(d, -0)) return '-0.0';
  const s = String(d).replace('e+', 'e');
  return /[.e]/.test(s) ? s : `${s}.0`;
}

function opaqueText(fieldType: number, data: Buffer): string {
  switch (fieldType) {
    case ColumnType.NEWDECIMAL: {
      if (data.length < 2) fail('an opaque DECIMAL lacks its precision and scale');
      return decodeDecimal(data.subarray(2), data[0]!, data[1]!);
    }
    case ColumnType.DATE:
    case ColumnType.DATETIME:
    case ColumnType.TIMESTAMP:
    case ColumnType.TIME: {
      if (data.length < 8) fail(`an opaque date or time has ${data.length} bytes, not 8`);
      const packed = data.readBigInt64LE(0);
      const kind = fieldType === ColumnType.DATE ? 'date' : fieldType === ColumnType.TIME ? 'time' : 'datetime';
      return JSON.stringify(packedDatetimeText(packed, kind));
    }
    default:
      return JSON.stringify(`base64:type${fieldType}:${data.toString('base64')}`);
  }
}

/** JSON text as MySQL prints it: `, ` between items, `": "` after keys. */
export function renderJson(node: JsonNode): string {
  switch (node.k) {
    case 'scalar':
      return node.text;
    case 'array':
      return `[${node.items.map(renderJson).join(', ')}]`;
    case 'object':
      return `{${node.entries.map(([k, v]) => `${JSON.stringify(k)}: ${renderJson(v)}`).join(', ')}}`;
  }
}
