/**
 * BSON read and written as bytes. Documents travel from the source to the target without ever
 * becoming JavaScript values: an int32, an int64, a double 1.0, a Decimal128, a regex's flags, a
 * deprecated type (undefined, DBPointer, symbol), integer-like keys and their order all stay as the
 * source stored them. This module walks a document's elements and builds new documents out of
 * element bytes; only the small scalars the driver itself needs (names, counters, timestamps) are
 * ever decoded.
 *
 * Layout (bsonspec.org): a document is int32 total length, its elements, a 0x00 byte. An element
 * is a type byte, a NUL-terminated key (a cstring) and a value whose length depends on the type.
 */

/** Element type bytes (bsonspec.org). */
export const T = {
  double: 0x01,
  string: 0x02,
  document: 0x03,
  array: 0x04,
  binary: 0x05,
  undefined: 0x06,
  objectId: 0x07,
  bool: 0x08,
  date: 0x09,
  null: 0x0a,
  regex: 0x0b,
  dbPointer: 0x0c,
  code: 0x0d,
  symbol: 0x0e,
  codeWithScope: 0x0f,
  int32: 0x10,
  timestamp: 0x11,
  int64: 0x12,
  decimal128: 0x13,
  minKey: 0xff,
  maxKey: 0x7f,
} as const;

/** Smallest document: its int32 length and the terminating 0x00. */
const EMPTY_DOC_BYTES = 5;
const INT32_BYTES = 4;

/** One element: its type, key, and the value bytes exactly as stored. */
export interface RawElement {
  readonly type: number;
  readonly name: string;
  /** The value's bytes (a sub-document's or array's whole encoding for types 3 and 4). */
  readonly value: Uint8Array;
}

export class BsonFormatError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** The length of the document that starts at `offset`, checked against the buffer. */
export function documentLength(buf: Uint8Array, offset = 0): number {
  if (offset + INT32_BYTES > buf.byteLength) throw new BsonFormatError('truncated BSON document length');
  const len = view(buf).getInt32(offset, true);
  if (len < EMPTY_DOC_BYTES || offset + len > buf.byteLength)
    throw new BsonFormatError(`BSON document length ${len} does not fit in ${buf.byteLength - offset} bytes`);
  if (buf[offset + len - 1] !== 0) throw new BsonFormatError('BSON document does not end with 0x00');
  return len;
}

/** The documents of a concatenation of BSON documents (a .bson file, a payload), as slices. */
export function* splitDocuments(buf: Uint8Array): Generator<Uint8Array> {
  let off = 0;
  while (off < buf.byteLength) {
    const len = documentLength(buf, off);
    yield buf.subarray(off, off + len);
    off += len;
  }
}

function cstringEnd(buf: Uint8Array, from: number, end: number): number {
  const nul = buf.indexOf(0, from);
  if (nul < 0 || nul >= end) throw new BsonFormatError('unterminated BSON key or cstring');
  return nul;
}

/** Bytes of the value of type `type` starting at `at` (exclusive end), for a document ending at `end`. */
function valueEnd(buf: Uint8Array, type: number, at: number, end: number): number {
  const dv = view(buf);
  const fixed = (n: number): number => {
    if (at + n > end) throw new BsonFormatError('truncated BSON value');
    return at + n;
  };
  const int32At = (): number => {
    fixed(INT32_BYTES);
    return dv.getInt32(at, true);
  };
  switch (type) {
    case T.double:
    case T.date:
    case T.timestamp:
    case T.int64:
      return fixed(8);
    case T.int32:
      return fixed(4);
    case T.decimal128:
      return fixed(16);
    case T.objectId:
      return fixed(12);
    case T.bool:
      return fixed(1);
    case T.undefined:
    case T.null:
    case T.minKey:
    case T.maxKey:
      return at;
    case T.string:
    case T.code:
    case T.symbol: {
      const n = int32At();
      if (n < 1) throw new BsonFormatError('bad BSON string length');
      return fixed(INT32_BYTES + n);
    }
    case T.dbPointer: {
      const n = int32At();
      if (n < 1) throw new BsonFormatError('bad BSON DBPointer length');
      return fixed(INT32_BYTES + n + 12);
    }
    case T.binary: {
      const n = int32At();
      if (n < 0) throw new BsonFormatError('bad BSON binary length');
      return fixed(INT32_BYTES + 1 + n);
    }
    case T.document:
    case T.array:
    case T.codeWithScope: {
      const n = int32At();
      if (n < EMPTY_DOC_BYTES) throw new BsonFormatError('bad BSON embedded length');
      return fixed(n);
    }
    case T.regex: {
      const a = cstringEnd(buf, at, end);
      return cstringEnd(buf, a + 1, end) + 1;
    }
    default:
      throw new BsonFormatError(`unknown BSON type 0x${type.toString(16)}`);
  }
}

/** The elements of one document, in stored order; throws on malformed input. */
export function* elements(doc: Uint8Array): Generator<RawElement> {
  const len = documentLength(doc, 0);
  const end = len - 1;
  let at = INT32_BYTES;
  while (at < end) {
    const type = doc[at] as number;
    const nul = cstringEnd(doc, at + 1, end);
    const name = utf8.decode(doc.subarray(at + 1, nul));
    const vEnd = valueEnd(doc, type, nul + 1, end);
    yield { type, name, value: doc.subarray(nul + 1, vEnd) };
    at = vEnd;
  }
  if (at !== end) throw new BsonFormatError('BSON elements overrun their document');
}

/** The first element named `name`, if any. */
export function field(doc: Uint8Array, name: string): RawElement | undefined {
  for (const e of elements(doc)) if (e.name === name) return e;
  return undefined;
}

/** Follows a path of keys through sub-documents. */
export function path(doc: Uint8Array, ...names: string[]): RawElement | undefined {
  let cur: RawElement | undefined;
  let d = doc;
  for (const n of names) {
    cur = field(d, n);
    if (!cur) return undefined;
    if (cur.type === T.document || cur.type === T.array) d = cur.value;
  }
  return cur;
}

// --- decoding the few scalars the driver itself reads -------------------------------------------

export function asString(e: RawElement | undefined): string | undefined {
  if (!e || (e.type !== T.string && e.type !== T.symbol)) return undefined;
  return utf8.decode(e.value.subarray(INT32_BYTES, e.value.byteLength - 1));
}

export function asBool(e: RawElement | undefined): boolean | undefined {
  return e?.type === T.bool ? e.value[0] === 1 : undefined;
}

/** int32, int64 or an integral double, as a bigint. */
export function asInteger(e: RawElement | undefined): bigint | undefined {
  if (!e) return undefined;
  const dv = view(e.value);
  if (e.type === T.int32) return BigInt(dv.getInt32(0, true));
  if (e.type === T.int64) return dv.getBigInt64(0, true);
  if (e.type === T.double) {
    const d = dv.getFloat64(0, true);
    return Number.isInteger(d) ? BigInt(d) : undefined;
  }
  return undefined;
}

export interface Timestamp {
  /** Seconds (unsigned 32 bits). */
  readonly t: number;
  /** Increment within the second (unsigned 32 bits). */
  readonly i: number;
}

/** A BSON Timestamp: little-endian uint64 whose low word is the increment, high word the seconds. */
export function asTimestamp(e: RawElement | undefined): Timestamp | undefined {
  if (e?.type !== T.timestamp) return undefined;
  const dv = view(e.value);
  return { i: dv.getUint32(0, true), t: dv.getUint32(4, true) };
}

/** A BSON date as milliseconds since the epoch. */
export function asDateMillis(e: RawElement | undefined): bigint | undefined {
  return e?.type === T.date ? view(e.value).getBigInt64(0, true) : undefined;
}

/** The bytes of a binary value (any subtype). */
export function asBinary(e: RawElement | undefined): Uint8Array | undefined {
  if (e?.type !== T.binary) return undefined;
  const n = view(e.value).getInt32(0, true);
  return e.value.subarray(INT32_BYTES + 1, INT32_BYTES + 1 + n);
}

/** The document or array value bytes of an element. */
export function asDocument(e: RawElement | undefined): Uint8Array | undefined {
  return e && (e.type === T.document || e.type === T.array) ? e.value : undefined;
}

/** The element bytes of an array, in order (their keys are "0", "1", …). */
export function arrayItems(arr: Uint8Array): RawElement[] {
  return [...elements(arr)];
}

// --- building ------------------------------------------------------------------------------------

/** Builds a document from elements; the values are copied byte for byte. */
export function buildDocument(items: Iterable<RawElement>): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = INT32_BYTES + 1;
  for (const it of items) {
    if (it.name.includes('\0')) throw new BsonFormatError('a BSON key cannot contain NUL');
    const key = encoder.encode(it.name);
    const head = new Uint8Array(1 + key.byteLength + 1);
    head[0] = it.type;
    head.set(key, 1);
    parts.push(head, it.value);
    total += head.byteLength + it.value.byteLength;
  }
  const out = new Uint8Array(total);
  view(out).setInt32(0, total, true);
  let at = INT32_BYTES;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  out[total - 1] = 0;
  return out;
}

/** An array from element values; the keys become "0", "1", … */
export function buildArray(items: Iterable<{ type: number; value: Uint8Array }>): Uint8Array {
  let n = 0;
  const named: RawElement[] = [];
  for (const it of items) named.push({ type: it.type, name: String(n++), value: it.value });
  return buildDocument(named);
}

export const el = {
  string(name: string, s: string): RawElement {
    const bytes = encoder.encode(s);
    const v = new Uint8Array(INT32_BYTES + bytes.byteLength + 1);
    view(v).setInt32(0, bytes.byteLength + 1, true);
    v.set(bytes, INT32_BYTES);
    return { type: T.string, name, value: v };
  },
  int32(name: string, n: number): RawElement {
    const v = new Uint8Array(4);
    view(v).setInt32(0, n, true);
    return { type: T.int32, name, value: v };
  },
  int64(name: string, n: bigint): RawElement {
    const v = new Uint8Array(8);
    view(v).setBigInt64(0, n, true);
    return { type: T.int64, name, value: v };
  },
  bool(name: string, b: boolean): RawElement {
    return { type: T.bool, name, value: Uint8Array.of(b ? 1 : 0) };
  },
  null(name: string): RawElement {
    return { type: T.null, name, value: new Uint8Array(0) };
  },
  timestamp(name: string, ts: Timestamp): RawElement {
    const v = new Uint8Array(8);
    view(v).setUint32(0, ts.i, true);
    view(v).setUint32(4, ts.t, true);
    return { type: T.timestamp, name, value: v };
  },
  /** Binary subtype 0 (generic). */
  binary(name: string, bytes: Uint8Array): RawElement {
    const v = new Uint8Array(INT32_BYTES + 1 + bytes.byteLength);
    view(v).setInt32(0, bytes.byteLength, true);
    v[INT32_BYTES] = 0;
    v.set(bytes, INT32_BYTES + 1);
    return { type: T.binary, name, value: v };
  },
  document(name: string, doc: Uint8Array): RawElement {
    return { type: T.document, name, value: doc };
  },
  array(name: string, arr: Uint8Array): RawElement {
    return { type: T.array, name, value: arr };
  },
  /** The same value under another key. */
  renamed(name: string, e: RawElement): RawElement {
    return { type: e.type, name, value: e.value };
  },
};

/** Byte equality of two documents or values. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}
