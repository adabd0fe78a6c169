import { describe, expect, it } from 'vitest';
import {
  appendTextRow,
  Out,
  rowEnd,
  ROWS_HEADER_BYTES,
  rowsToLoadData,
} from '../../../drivers/mysql/internal/rows-format.js';

/** A text-protocol row packet's payload: each field a length-encoded string, null as 0xFB. */
function rowPacket(fields: readonly (Buffer | string | null)[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    if (f === null) {
      parts.push(Buffer.from([0xfb]));
      continue;
    }
    const b = Buffer.isBuffer(f) ? f : Buffer.from(f, 'utf8');
    const n = b.length;
    if (n < 0xfb) parts.push(Buffer.from([n]));
    else if (n < 0x10000) parts.push(Buffer.from([0xfc, n & 0xff, n >> 8]));
    else if (n < 0x1000000) parts.push(Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]));
    else {
      const h = Buffer.alloc(9);
      h[0] = 0xfe;
      h.writeBigUInt64LE(BigInt(n), 1);
      parts.push(h);
    }
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** The row as LOAD DATA text, the packet placed inside a larger buffer as mysql2 hands it over. */
function line(fields: readonly (Buffer | string | null)[]): string {
  const payload = rowPacket(fields);
  const framed = Buffer.concat([Buffer.from('head'), payload, Buffer.from('tail')]);
  const out = new Out();
  appendTextRow(framed, 4, 4 + payload.length, fields.length, out);
  return out.take().toString('latin1');
}

describe('MySQL snapshot rows: protocol row packets to LOAD DATA text', () => {
  it('separates fields by tabs, ends the row with a newline and writes NULL as \\N', () => {
    expect(line(['1', 'Ada', null, ''])).toBe('1\tAda\t\\N\t\n');
  });

  it('escapes backslash, tab, newline, carriage return and NUL, and nothing else', () => {
    const raw = Buffer.from([0x5c, 0x09, 0x0a, 0x0d, 0x00, 0x4e, 0x1a, 0x27, 0x22, 0xff]);
    expect(line([raw])).toBe('\\\\\\t\\n\\r\\0N\x1a\'"\xff\n');
    // the word NULL and a lone N stay text: only the two bytes \N mean NULL
    expect(line(['NULL', 'N', '\\N'])).toBe('NULL\tN\t\\\\N\n');
  });

  it('reads every length encoding: 1, 3, 4 and 9 bytes', () => {
    for (const n of [0, 250, 251, 65535, 65536, 0x1000000]) {
      const value = Buffer.alloc(n, 0x61);
      const text = line([value, 'x']);
      expect(text.length).toBe(n + 3);
      expect(text.endsWith('\tx\n')).toBe(true);
    }
  });

  it('grows its buffer for a row larger than a chunk, and keeps rows already in it', () => {
    const out = new Out();
    const small = rowPacket(['a']);
    appendTextRow(small, 0, small.length, 1, out);
    const big = rowPacket([Buffer.alloc(3 * 1024 * 1024, 0x5c)]);
    appendTextRow(big, 0, big.length, 1, out);
    const text = out.take();
    expect(text.length).toBe(2 + 6 * 1024 * 1024 + 1);
    expect(text.subarray(0, 4).toString()).toBe('a\n\\\\');
  });

  it('refuses a packet that does not hold exactly the row', () => {
    const p = rowPacket(['abc', 'de']);
    const out = new Out();
    expect(() => appendTextRow(p, 0, p.length - 1, 2, out)).toThrow('runs past the packet');
    expect(() => appendTextRow(p, 0, p.length, 1, out)).toThrow('bytes left after the last field');
    expect(() => appendTextRow(Buffer.from([0xff]), 0, 1, 1, out)).toThrow('length byte 0xff');
  });
});

/** Rows as `mysql-rows/1`: the field count, then each row packet's payload. */
function rowsData(rows: readonly (readonly (Buffer | string | null)[])[]): Buffer {
  const head = Buffer.alloc(ROWS_HEADER_BYTES);
  head.writeUInt16LE(rows[0]?.length ?? 1);
  return Buffer.concat([head, ...rows.map((r) => rowPacket(r))]);
}

async function text(pieces: readonly Uint8Array[], fields: number): Promise<string> {
  const out: Uint8Array[] = [];
  for await (const c of rowsToLoadData(
    (async function* () {
      yield* pieces;
    })(),
    fields,
  ))
    out.push(c);
  return Buffer.concat(out).toString('latin1');
}

describe("MySQL restore: mysql-rows/1 (the snapshot's row packets) to LOAD DATA text", () => {
  const rows = [
    ['1', 'Ada', null],
    ['2', 'tab\there', ''],
    ['3', Buffer.alloc(300, 0x62), 'x'],
    ['4', Buffer.alloc(70000, 0x63), null],
  ];
  const whole = rowsData(rows);
  const expected = `1\tAda\t\\N\n2\ttab\\there\t\n3\t${'b'.repeat(300)}\tx\n4\t${'c'.repeat(70000)}\t\\N\n`;

  it('gives the same text wherever the input is cut, once or twice', async () => {
    expect(await text([whole], 3)).toBe(expected);
    const cuts = [
      ...Array(400).keys(),
      ...Array.from({ length: 60 }, (_, i) => 395 + i * 1171),
      whole.length - 1,
      whole.length,
    ];
    for (const a of cuts) expect(await text([whole.subarray(0, a), whole.subarray(a)], 3)).toBe(expected);
    for (let a = 0; a <= 400; a += 7)
      for (let b = a; b <= whole.length; b += 997)
        expect(await text([whole.subarray(0, a), whole.subarray(a, b), whole.subarray(b)], 3)).toBe(expected);
  });

  it('an empty table is its header alone', async () => {
    expect(await text([rowsData([]).subarray(0, 1), rowsData([]).subarray(1)], 1)).toBe('');
  });

  it('puts a row larger than many input chunks together', async () => {
    const big = rowsData([[Buffer.alloc(5 * 1024 * 1024, 0x61)], ['z']]);
    const pieces: Buffer[] = [];
    for (let i = 0; i < big.length; i += 65536) pieces.push(big.subarray(i, i + 65536));
    const t = await text(pieces, 1);
    expect(t.length).toBe(5 * 1024 * 1024 + 1 + 2);
    expect(t.endsWith('a\nz\n')).toBe(true);
  });

  it('says how many more bytes a cut row needs, at least', () => {
    const row = rowPacket(['abc', Buffer.alloc(300, 0x61), null]);
    expect(rowEnd(row, 0, 3)).toBe(row.length);
    for (let n = 0; n < row.length; n++) {
      const need = -rowEnd(row.subarray(0, n), 0, 3);
      expect(need).toBeGreaterThan(n);
      expect(need).toBeLessThanOrEqual(row.length);
    }
  });

  it("refuses data that ends inside a row, and rows that do not hold the table's columns", async () => {
    await expect(text([whole.subarray(0, whole.length - 1)], 3)).rejects.toThrow(
      'the data ends inside a row (',
    );
    await expect(text([whole.subarray(0, 1)], 3)).rejects.toThrow(
      'the data ends inside a row (1 bytes of it)',
    );
    await expect(text([whole], 2)).rejects.toThrow('the rows hold 3 fields each, the table 2 columns');
  });
});
