import { describe, expect, it } from 'vitest';
import { appendTextRow, Out } from '../../../drivers/mysql/internal/load-data-query.js';

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
