import { decimalBinarySize, decodeDecimal } from './decimal.js';
import { MalformedEvent } from './errors.js';
import { applyJsonDiffs, readJsonDiffs } from './json-diff.js';
import { parseJsonBinary, renderJson, jsonBinaryToText } from './json-binary.js';
import type { ByteReader } from './reader.js';
import {
  readDate,
  readDatetime,
  readDatetime2,
  readDatetimeHires,
  readTime,
  readTimeHires,
  readTimestampHires,
  readTime2,
  readTimestamp,
  readTimestamp2,
  readYear,
} from './temporal.js';
import { ColumnType, NOT_LOGGED, type ColumnInfo, type JsonColumnDiff, type ColumnValue, type RowChange, type TableMapEvent } from './types.js';

/**
 * The body of WRITE/UPDATE/DELETE_ROWS (v1 and v2) and PARTIAL_UPDATE_ROWS: column count, the
 * columns-present bitmap(s), then one image (two for updates) per row: a NULL bitmap over the
 * present columns and the values of the present, non-NULL columns in the TABLE_MAP's types.
 * A column the bitmap leaves out is NOT_LOGGED, never null.
 */

/** binlog_row_value_options bit of PARTIAL_UPDATE_ROWS after images. */
const PARTIAL_JSON_UPDATES = 1n;

export type RowsOperation = 'insert' | 'update' | 'delete';

interface ImageResult {
  values: ColumnValue[];
  /** Edits of JSON columns the before image lacks (see RowChange.jsonDiffs). */
  diffs: JsonColumnDiff[];
  /** Raw binary JSON of the image's JSON columns, for partial updates of the after image. */
  json: Map<number, Buffer>;
}

export function decodeRowsBody(
  body: ByteReader,
  operation: RowsOperation,
  table: TableMapEvent,
  partial: boolean,
  /** MariaDB compressed rows events: the rows after the bitmaps are compressed; this inflates them. */
  uncompress?: (rows: Buffer) => ByteReader,
): RowChange[] {
  const columns = table.columns;
  const count = Number(body.lenenc('the column count'));
  if (count > columns.length) {
    throw new MalformedEvent(
      `rows of ${table.database}.${table.table} have ${count} columns, its TABLE_MAP (table id ${table.tableId}) has ${columns.length}.`,
    );
  }
  const present = bits(body.bytes(Math.ceil(count / 8), 'the columns-present bitmap'), count);
  const presentAfter =
    operation === 'update' ? bits(body.bytes(Math.ceil(count / 8), 'the after-image columns-present bitmap'), count) : present;
  const r = uncompress ? uncompress(body.rest()) : body;
  const jsonColumns = columns.filter((c) => c.type === ColumnType.JSON).length;
  const rows: RowChange[] = [];
  while (r.remaining > 0) {
    if (operation === 'insert') {
      rows.push({ after: readImage(r, columns, present, undefined).values });
    } else if (operation === 'delete') {
      rows.push({ before: readImage(r, columns, present, undefined).values });
    } else {
      const before = readImage(r, columns, present, undefined);
      let partialBits: boolean[] | undefined;
      if (partial) {
        const options = r.lenenc('the value options');
        if (options & PARTIAL_JSON_UPDATES) partialBits = bits(r.bytes(Math.ceil(jsonColumns / 8), 'the partial JSON bitmap'), jsonColumns);
      }
      const after = readImage(r, columns, presentAfter, partialBits ? { bits: partialBits, before } : undefined);
      rows.push({ before: before.values, after: after.values, ...(after.diffs.length ? { jsonDiffs: after.diffs } : {}) });
    }
  }
  return rows;
}

/** LSB-first bitmap (row events), `n` bits. */
function bits(b: Buffer, n: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(((b[i >> 3]! >> (i & 7)) & 1) === 1);
  return out;
}

function readImage(
  r: ByteReader,
  columns: readonly ColumnInfo[],
  present: readonly boolean[],
  partial: { bits: boolean[]; before: ImageResult } | undefined,
): ImageResult {
  const presentCount = present.filter(Boolean).length;
  const nulls = bits(r.bytes(Math.ceil(presentCount / 8), 'a row NULL bitmap'), presentCount);
  const values: ColumnValue[] = [];
  const json = new Map<number, Buffer>();
  const diffsOut: JsonColumnDiff[] = [];
  let p = 0;
  let jsonIndex = 0;
  for (let i = 0; i < columns.length; i++) {
    const col = columns[i]!;
    // the partial bitmap has a bit for every JSON column, present in this image or not
    const isPartial = col.type === ColumnType.JSON && partial !== undefined && partial.bits[jsonIndex] === true;
    if (col.type === ColumnType.JSON) jsonIndex++;
    if (!present[i]) {
      values.push(NOT_LOGGED);
      continue;
    }
    if (nulls[p++]) {
      values.push(null);
      continue;
    }
    if (isPartial) {
      const length = r.uintLE(col.meta, `the JSON diff length of column ${i + 1}`);
      const diffs = readJsonDiffs(r, length);
      const base = partial.before.json.get(i);
      if (base) {
        values.push(renderJson(applyJsonDiffs(parseJsonBinary(base), diffs)));
      } else {
        // MINIMAL before image: the document is not in the event, only the edits are
        values.push(NOT_LOGGED);
        for (const d of diffs) {
          diffsOut.push({ column: i, op: d.op, path: d.path, ...(d.value ? { value: renderJson(d.value) } : {}) });
        }
      }
      continue;
    }
    if (col.type === ColumnType.JSON) {
      const raw = r.bytes(r.uintLE(col.meta, `the length of column ${i + 1}`), `JSON column ${i + 1}`);
      json.set(i, raw);
      values.push(jsonBinaryToText(raw));
      continue;
    }
    values.push(readValue(r, col, i));
  }
  return { values, json, diffs: diffsOut };
}

function lengthBytes(col: ColumnInfo, i: number): number {
  if (col.meta < 1 || col.meta > 4) throw new MalformedEvent(`column ${i + 1} has ${col.meta} length bytes; the format allows 1 to 4.`);
  return col.meta;
}

/** One non-NULL value of `col`, in the representation types.ts documents. */
export function readValue(r: ByteReader, col: ColumnInfo, i: number): ColumnValue {
  const unsigned = col.unsigned === true;
  const what = `column ${i + 1}`;
  switch (col.type) {
    case ColumnType.TINY:
      return unsigned ? BigInt(r.u8(what)) : BigInt(r.bytes(1, what).readInt8(0));
    case ColumnType.SHORT:
      return unsigned ? BigInt(r.u16(what)) : BigInt(r.bytes(2, what).readInt16LE(0));
    case ColumnType.INT24: {
      const v = r.u24(what);
      return BigInt(unsigned || v < 0x80_0000 ? v : v - 0x100_0000);
    }
    case ColumnType.LONG:
      return unsigned ? BigInt(r.u32(what)) : BigInt(r.bytes(4, what).readInt32LE(0));
    case ColumnType.LONGLONG:
      return unsigned ? r.u64(what) : r.bytes(8, what).readBigInt64LE(0);
    case ColumnType.FLOAT:
      return r.bytes(4, what).readFloatLE(0);
    case ColumnType.DOUBLE:
      return r.bytes(8, what).readDoubleLE(0);
    case ColumnType.NEWDECIMAL: {
      const precision = col.meta >> 8;
      const scale = col.meta & 0xff;
      return decodeDecimal(r.bytes(decimalBinarySize(precision, scale), what), precision, scale);
    }
    case ColumnType.YEAR:
      return readYear(r);
    case ColumnType.DATE:
    case ColumnType.NEWDATE:
      return readDate(r);
    case ColumnType.TIME:
      return col.meta > 0 ? readTimeHires(r, col.meta) : readTime(r);
    case ColumnType.TIME2:
      return readTime2(r, col.meta);
    case ColumnType.DATETIME:
      return col.meta > 0 ? readDatetimeHires(r, col.meta) : readDatetime(r);
    case ColumnType.DATETIME2:
      return readDatetime2(r, col.meta);
    case ColumnType.TIMESTAMP:
      return col.meta > 0 ? readTimestampHires(r, col.meta) : readTimestamp(r);
    case ColumnType.TIMESTAMP2:
      return readTimestamp2(r, col.meta);
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
    case ColumnType.STRING:
      return r.copy(r.uintLE(col.meta > 255 ? 2 : 1, `the length of ${what}`), what);
    case ColumnType.ENUM:
      if (col.meta !== 1 && col.meta !== 2) throw new MalformedEvent(`ENUM ${what} is ${col.meta} bytes wide; MySQL uses 1 or 2.`);
      return r.uintLE(col.meta, what);
    case ColumnType.SET:
      if (col.meta < 1 || col.meta > 8) throw new MalformedEvent(`SET ${what} is ${col.meta} bytes wide; MySQL uses 1 to 8.`);
      return r.bigUintLE(col.meta, what);
    case ColumnType.BIT:
      return r.copy(Math.ceil(col.meta / 8), what);
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.GEOMETRY:
    case ColumnType.VECTOR:
      return r.copy(r.uintLE(lengthBytes(col, i), `the length of ${what}`), what);
    case ColumnType.JSON:
      return jsonBinaryToText(r.bytes(r.uintLE(lengthBytes(col, i), `the length of ${what}`), what));
    case ColumnType.NULL:
      return null;
    default:
      throw unsupported(col, i, `column type ${col.type}`);
  }
}

function unsupported(col: ColumnInfo, i: number, what: string): MalformedEvent {
  return new MalformedEvent(`column ${i + 1}${col.name ? ` (${col.name})` : ''} is a ${what}, which this decoder does not read.`);
}
