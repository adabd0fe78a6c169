/**
 * MongoDB's comparison order of BSON values, as an index orders its keys (the `_id` index among
 * them), on raw element bytes: first by type class
 *
 *   MinKey < null, undefined < numbers < string, symbol < object < array < binary < ObjectId
 *          < bool < date < timestamp < regex < MaxKey
 *
 * then within a class: numbers by value whatever their type (int32 1, int64 1, double 1.0 and
 * Decimal128 1 are equal; NaN below every other number), strings by their UTF-8 bytes (the simple
 * collation), objects field by field (type class, then name, then value), binaries by length,
 * then subtype, then bytes, ObjectIds by bytes, dates as signed milliseconds, timestamps as
 * unsigned (seconds, increment).
 *
 * The snapshot does not sort with it (the server sorts the sampled `_id`s, and the split ranges are
 * index bounds the server applies): it checks the order the server gave, so that a mistake here can
 * only stop a collection from being split, never lose a document.
 */
import { Decimal128 } from 'mongodb';
import { arrayItems, elements, T, type RawElement } from './bson-raw.js';

const utf8 = new TextEncoder();

type Value = Pick<RawElement, 'type' | 'value'>;

/** The type classes of MongoDB's sort order, low to high. */
export function typeClass(type: number): number {
  switch (type) {
    case T.minKey:
      return 0;
    case T.null:
    case T.undefined:
      return 1;
    case T.int32:
    case T.int64:
    case T.double:
    case T.decimal128:
      return 2;
    case T.string:
    case T.symbol:
      return 3;
    case T.document:
      return 4;
    case T.array:
      return 5;
    case T.binary:
      return 6;
    case T.objectId:
      return 7;
    case T.bool:
      return 8;
    case T.date:
      return 9;
    case T.timestamp:
      return 10;
    case T.regex:
      return 11;
    case T.dbPointer:
      return 12;
    case T.code:
      return 13;
    case T.codeWithScope:
      return 14;
    case T.maxKey:
      return 15;
    default:
      throw new RangeError(`unknown BSON type 0x${type.toString(16)}`);
  }
}

const dv = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);
const sign = (n: number | bigint): number => (n > 0 ? 1 : n < 0 ? -1 : 0);

/** An exact number: NaN, ±Infinity, or num / den with den > 0. */
type Exact = { kind: 'nan' } | { kind: 'inf'; neg: boolean } | { kind: 'finite'; num: bigint; den: bigint };

function exactDouble(d: number): Exact {
  if (Number.isNaN(d)) return { kind: 'nan' };
  if (!Number.isFinite(d)) return { kind: 'inf', neg: d < 0 };
  if (d === 0) return { kind: 'finite', num: 0n, den: 1n };
  // every finite double is m * 2^e with integer m: scale until integral (at most 1074 steps)
  let den = 1n;
  let x = d;
  while (!Number.isInteger(x)) {
    x *= 2;
    den *= 2n;
  }
  return { kind: 'finite', num: BigInt(x), den };
}

function exactDecimal(bytes: Uint8Array): Exact {
  const text = new Decimal128(Buffer.from(bytes)).toString();
  if (text === 'NaN' || text === '-NaN') return { kind: 'nan' };
  if (text === 'Infinity' || text === '-Infinity') return { kind: 'inf', neg: text.startsWith('-') };
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:E([+-]\d+))?$/i.exec(text);
  if (!m) throw new RangeError(`unreadable Decimal128 ${text}`);
  const frac = m[3] ?? '';
  let num = BigInt(`${m[2]}${frac}`);
  const exp = Number(m[4] ?? '0') - frac.length;
  if (m[1]) num = -num;
  let den = 1n;
  if (exp >= 0) num *= 10n ** BigInt(exp);
  else den = 10n ** BigInt(-exp);
  return { kind: 'finite', num, den };
}

function exactNumber(v: Value): Exact {
  const d = dv(v.value);
  switch (v.type) {
    case T.int32:
      return { kind: 'finite', num: BigInt(d.getInt32(0, true)), den: 1n };
    case T.int64:
      return { kind: 'finite', num: d.getBigInt64(0, true), den: 1n };
    case T.double:
      return exactDouble(d.getFloat64(0, true));
    default:
      return exactDecimal(v.value);
  }
}

function compareExact(a: Exact, b: Exact): number {
  // NaN is the smallest number, then -Infinity, the finite numbers, +Infinity
  const rank = (x: Exact): number => (x.kind === 'nan' ? 0 : x.kind === 'inf' ? (x.neg ? 1 : 3) : 2);
  const r = rank(a) - rank(b);
  if (r !== 0 || a.kind !== 'finite' || b.kind !== 'finite') return sign(r);
  return sign(a.num * b.den - b.num * a.den);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number) < 0 ? -1 : 1;
  return sign(a.byteLength - b.byteLength);
}

/** A string's or symbol's UTF-8 bytes, without length and terminator. */
const stringBytes = (v: Uint8Array): Uint8Array => v.subarray(4, v.byteLength - 1);

function compareDocuments(a: Uint8Array, b: Uint8Array): number {
  const ea = [...elements(a)];
  const eb = [...elements(b)];
  for (let i = 0; i < Math.min(ea.length, eb.length); i++) {
    const x = ea[i]!;
    const y = eb[i]!;
    const c =
      sign(typeClass(x.type) - typeClass(y.type)) ||
      compareBytes(utf8.encode(x.name), utf8.encode(y.name)) ||
      compareBsonValues(x, y);
    if (c) return c;
  }
  return sign(ea.length - eb.length);
}

/** Compares two BSON values in MongoDB's order (simple collation); 0 when an index holds them equal. */
export function compareBsonValues(a: Value, b: Value): number {
  const ca = typeClass(a.type);
  const cb = typeClass(b.type);
  if (ca !== cb) return sign(ca - cb);
  switch (ca) {
    case 0:
    case 1:
    case 15:
      return 0;
    case 2:
      return compareExact(exactNumber(a), exactNumber(b));
    case 3:
      return compareBytes(stringBytes(a.value), stringBytes(b.value));
    case 4:
      return compareDocuments(a.value, b.value);
    case 5: {
      const xa = arrayItems(a.value);
      const xb = arrayItems(b.value);
      for (let i = 0; i < Math.min(xa.length, xb.length); i++) {
        const c = compareBsonValues(xa[i]!, xb[i]!);
        if (c) return c;
      }
      return sign(xa.length - xb.length);
    }
    case 6: {
      const la = dv(a.value).getInt32(0, true);
      const lb = dv(b.value).getInt32(0, true);
      if (la !== lb) return sign(la - lb);
      return (
        sign((a.value[4] as number) - (b.value[4] as number)) ||
        compareBytes(a.value.subarray(5), b.value.subarray(5))
      );
    }
    case 8:
      return sign((a.value[0] as number) - (b.value[0] as number));
    case 9:
      return sign(dv(a.value).getBigInt64(0, true) - dv(b.value).getBigInt64(0, true));
    case 10:
      return sign(dv(a.value).getBigUint64(0, true) - dv(b.value).getBigUint64(0, true));
    default:
      // ObjectId, regex, DBPointer, code: by bytes (the only one an _id can hold is ObjectId)
      return compareBytes(a.value, b.value);
  }
}
