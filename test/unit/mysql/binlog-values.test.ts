/**
 * Hand-built events for what no recorded binlog holds: -0 floats, signedness from hints and the
 * signed default, packed DECIMAL examples, binary JSON of both container sizes and every scalar
 * type, partial JSON updates applied to the before image, heartbeats v1 and v2, a ROTATE.
 */
import { describe, expect, it } from 'vitest';
import { decodeDecimal } from '../../../drivers/mysql/binlog/decimal.js';
import { jsonBinaryToText } from '../../../drivers/mysql/binlog/json-binary.js';
import { BinlogDecoder, ColumnType, EventType } from '../../../drivers/mysql/binlog/index.js';
import type { BinlogEvent, RowsEvent } from '../../../drivers/mysql/binlog/index.js';

/** A v4 event without checksum. */
function event(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(19);
  h.writeUInt32LE(1_700_000_000, 0);
  h[4] = type;
  h.writeUInt32LE(1, 5);
  h.writeUInt32LE(19 + body.length, 9);
  h.writeUInt32LE(0, 13);
  return Buffer.concat([h, body]);
}
const u8 = (...v: number[]): Buffer => Buffer.from(v);
const u16 = (v: number): Buffer => u8(v & 0xff, v >> 8);
const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
};
const str = (s: string): Buffer => Buffer.from(s, 'utf8');
const tableId = u8(7, 0, 0, 0, 0, 0);

function tableMap(types: number[], meta: Buffer, opts?: { unsignedBits?: number }): Buffer {
  const optional = opts?.unsignedBits === undefined ? Buffer.alloc(0) : u8(1, 1, opts.unsignedBits);
  return event(
    EventType.TABLE_MAP,
    Buffer.concat([tableId, u16(0), u8(2), str('db'), u8(0), u8(1), str('t'), u8(0), u8(types.length), u8(...types), u8(meta.length), meta, u8(0xff), optional]),
  );
}
function rows(type: number, body: Buffer): Buffer {
  return event(type, Buffer.concat([tableId, u16(1), u16(2), body]));
}
function decodeAll(...events: Buffer[]): BinlogEvent[] {
  const d = new BinlogDecoder({ file: 'hand-built' });
  return events.flatMap((e, i) => d.decode(e, 4 + i * 1000));
}
const lastRows = (events: BinlogEvent[]): RowsEvent => events[events.length - 1] as RowsEvent;

describe('column values', () => {
  it('FLOAT and DOUBLE keep -0', () => {
    const f = Buffer.alloc(4);
    f.writeFloatLE(-0);
    const d = Buffer.alloc(8);
    d.writeDoubleLE(-0);
    const ev = lastRows(decodeAll(tableMap([ColumnType.FLOAT, ColumnType.DOUBLE], u8(4, 8)), rows(EventType.WRITE_ROWS_V2, Buffer.concat([u8(2, 0b11, 0), f, d]))));
    const [a, b] = ev.rows[0]!.after!;
    expect(Object.is(a, -0)).toBe(true);
    expect(Object.is(b, -0)).toBe(true);
  });

  it('integers: signedness from the metadata, else from hints, else signed', () => {
    const types = [ColumnType.TINY, ColumnType.LONGLONG];
    const body = Buffer.concat([u8(2, 0b11, 0, 0xff), Buffer.alloc(8, 0xff)]);
    const signed = lastRows(decodeAll(tableMap(types, Buffer.alloc(0)), rows(EventType.WRITE_ROWS_V2, body)));
    expect(signed.rows[0]!.after).toEqual([-1n, -1n]);
    const fromMeta = lastRows(decodeAll(tableMap(types, Buffer.alloc(0), { unsignedBits: 0b0100_0000 }), rows(EventType.WRITE_ROWS_V2, body)));
    expect(fromMeta.rows[0]!.after).toEqual([-1n, 18446744073709551615n]);
    const d = new BinlogDecoder({ hints: (db, t) => (db === 'db' && t === 't' ? { unsigned: [true, false], names: ['a', 'b'] } : undefined) });
    d.decode(tableMap(types, Buffer.alloc(0)), 4);
    const fromHints = d.decode(rows(EventType.WRITE_ROWS_V2, body), 100)[0] as RowsEvent;
    expect(fromHints.rows[0]!.after).toEqual([255n, -1n]);
    expect(fromHints.table.columns.map((c) => c.name)).toEqual(['a', 'b']);
  });

  it('packed DECIMAL, positive and negative (the MySQL manual example)', () => {
    expect(decodeDecimal(Buffer.from('810dfb38d204d2', 'hex'), 14, 4)).toBe('1234567890.1234');
    expect(decodeDecimal(Buffer.from('7ef204c72dfb2d', 'hex'), 14, 4)).toBe('-1234567890.1234');
    expect(decodeDecimal(Buffer.from('80', 'hex'), 2, 2)).toBe('0.00');
  });
});

type J = null | boolean | number | bigint | string | J[] | { [k: string]: J };
/** MySQL binary JSON, written the way the server does (keys sorted by length, then bytes). */
function jsonb(v: J, large: boolean): Buffer {
  const { type, data } = encode(v, large);
  return Buffer.concat([u8(type), data]);
}
function encode(v: J, large: boolean): { type: number; data: Buffer; inline?: Buffer } {
  if (v === null || typeof v === 'boolean') return { type: 4, data: u8(v === null ? 0 : v ? 1 : 2), inline: u8(v === null ? 0 : v ? 1 : 2) };
  if (typeof v === 'bigint') {
    const b = Buffer.alloc(8);
    if (v > 9223372036854775807n) {
      b.writeBigUInt64LE(v);
      return { type: 0x0a, data: b };
    }
    b.writeBigInt64LE(v);
    return { type: 0x09, data: b };
  }
  if (typeof v === 'number') {
    if (Number.isInteger(v) && !Object.is(v, -0) && v >= -32768 && v <= 32767) {
      const b = Buffer.alloc(2);
      b.writeInt16LE(v);
      return { type: 0x05, data: b, inline: b };
    }
    const b = Buffer.alloc(8);
    b.writeDoubleLE(v);
    return { type: 0x0b, data: b };
  }
  if (typeof v === 'string') {
    const s = str(v);
    const len: number[] = [];
    let n = s.length;
    do {
      len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
      n >>= 7;
    } while (n > 0);
    return { type: 0x0c, data: Buffer.concat([u8(...len), s]) };
  }
  const isObject = !Array.isArray(v);
  const entries: Array<[string, J]> = isObject
    ? Object.entries(v).sort(([a], [b]) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(str(a), str(b)))
    : (v as J[]).map((x) => ['', x]);
  const w = large ? 4 : 2;
  const word = (n: number): Buffer => (large ? u32(n) : u16(n));
  const n = entries.length;
  const header = 2 * w + (isObject ? n * (w + 2) : 0) + n * (1 + w);
  let offset = header;
  const keyEntries: Buffer[] = [];
  const keys: Buffer[] = [];
  if (isObject) {
    for (const [k] of entries) {
      keyEntries.push(Buffer.concat([word(offset), u16(Buffer.byteLength(k))]));
      keys.push(str(k));
      offset += Buffer.byteLength(k);
    }
  }
  const valueEntries: Buffer[] = [];
  const values: Buffer[] = [];
  for (const [, x] of entries) {
    const e = encode(x, large);
    if (e.inline) {
      valueEntries.push(Buffer.concat([u8(e.type), e.inline, Buffer.alloc(w - e.inline.length)]));
    } else {
      valueEntries.push(Buffer.concat([u8(e.type), word(offset)]));
      values.push(e.data);
      offset += e.data.length;
    }
  }
  const type = isObject ? (large ? 1 : 0) : large ? 3 : 2;
  return { type, data: Buffer.concat([word(n), word(offset), ...keyEntries, ...valueEntries, ...keys, ...values]) };
}

describe('MySQL binary JSON', () => {
  const doc: J = {
    bb: [true, false, null, 'x"y\n😀', -1.5, 1e21, 9223372036854775807n, -9223372036854775808n, 18446744073709551615n, 70000.25],
    a: 1,
    nested: { k: [] as J[], e: {} },
  };
  const text =
    '{"a": 1, "bb": [true, false, null, "x\\"y\\n😀", -1.5, 1e21, 9223372036854775807, -9223372036854775808, 18446744073709551615, 70000.25], "nested": {"e": {}, "k": []}}';

  it.each([false, true])('renders every scalar and container as MySQL does (large containers: %s)', (large) => {
    expect(jsonBinaryToText(jsonb(doc, large))).toBe(text);
  });

  it('renders doubles the MySQL way', () => {
    expect(jsonBinaryToText(jsonb([1.5e300, 0.1, 100.5, 1e21], false))).toBe('[1.5e300, 0.1, 100.5, 1e21]');
    const negZero = Buffer.concat([u8(0x0b), Buffer.alloc(8)]);
    negZero.writeDoubleLE(-0, 1);
    expect(jsonBinaryToText(negZero)).toBe('-0.0');
    expect(jsonBinaryToText(Buffer.alloc(0))).toBe('null');
  });

  it('refuses an offset outside its container', () => {
    const bad = jsonb({ a: 'x' }, false);
    bad.writeUInt16LE(200, 1 + 4 + 4 + 1); // the value entry's offset
    expect(() => jsonBinaryToText(bad)).toThrow(/outside its container/);
  });
});

describe('PARTIAL_UPDATE_ROWS', () => {
  /** One diff: operation, path, and (unless a removal) a binary JSON value. */
  const diff = (op: number, path: string, value?: J): Buffer =>
    Buffer.concat([u8(op, Buffer.byteLength(path)), str(path), ...(value === undefined ? [] : [u8(jsonb(value, false).length), jsonb(value, false)])]);

  it('applies the diffs to the before image, so the after image holds the whole document', () => {
    const before = jsonb({ a: 1, bb: [1, 2], c: 'gone', 'key with space': 0 }, false);
    const diffs = Buffer.concat([
      diff(0, '$.a', 5),
      diff(1, '$.bb[1]', 'new'),
      diff(2, '$.c'),
      diff(1, '$.z', [true]),
      diff(0, '$."key with space"', null),
      diff(1, '$.bb[last]', 0),
    ]);
    const body = Buffer.concat([
      u8(2, 0b11, 0b11),
      u8(0), u32(1), u32(before.length), before, // before image
      u8(1, 0b1), // value options: partial JSON; partial bits: the one JSON column
      u8(0), u32(1), u32(diffs.length), diffs, // after image
    ]);
    const ev = lastRows(decodeAll(tableMap([ColumnType.LONG, ColumnType.JSON], u8(4)), rows(EventType.PARTIAL_UPDATE_ROWS, body)));
    expect(ev.rows[0]!.before).toEqual([1n, '{"a": 1, "c": "gone", "bb": [1, 2], "key with space": 0}']);
    expect(ev.rows[0]!.after).toEqual([1n, '{"a": 5, "z": [true], "bb": [1, "new", 0, 2], "key with space": null}']);
    expect(ev.rows[0]!.jsonDiffs).toBeUndefined();
  });
});

describe('control events', () => {
  it('HEARTBEAT v1 names the file, v2 the file and the position', () => {
    const [v1, v2] = decodeAll(
      event(EventType.HEARTBEAT, str('binlog.000042')),
      event(EventType.HEARTBEAT_V2, Buffer.concat([u8(1, 13), str('binlog.000043'), u8(2, 4, 0xfd, 0x40, 0x42, 0x0f), u8(0)])),
    );
    expect(v1).toMatchObject({ kind: 'heartbeat', logFile: 'binlog.000042' });
    expect(v2).toMatchObject({ kind: 'heartbeat', logFile: 'binlog.000043', logPosition: 1_000_000n });
  });

  it('ROTATE moves the decoder to the next file', () => {
    const d = new BinlogDecoder({ file: 'binlog.000001' });
    const [rot] = d.decode(event(EventType.ROTATE, Buffer.concat([u32(4), u32(0), str('binlog.000002')])), 900);
    expect(rot).toMatchObject({ kind: 'rotate', nextFile: 'binlog.000002', nextPosition: 4n, file: 'binlog.000001' });
    expect(d.file).toBe('binlog.000002');
    const [hb] = d.decode(event(EventType.HEARTBEAT, str('binlog.000002')), 0);
    expect(hb!.file).toBe('binlog.000002');
  });

  it('a ROWS event without its TABLE_MAP is refused, naming the table id', () => {
    expect(() => decodeAll(rows(EventType.WRITE_ROWS_V2, u8(1, 1, 0, 0)))).toThrow(
      /^hand-built at offset 4: WRITE_ROWS_V2 event for table id 7 comes without a TABLE_MAP for that id\.$/,
    );
  });
});
