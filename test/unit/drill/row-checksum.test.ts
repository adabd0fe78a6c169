/**
 * Per-table checksums: the hash is MurmurHash3 x86_128 (SMHasher's verification value), the
 * framers find the same rows whatever pieces a stream arrives in (cut at every offset), and the
 * sum mod 2^128 does not depend on row order or on how a table is split into parts.
 */
import { serialize } from 'bson';
import { describe, expect, it } from 'vitest';
import { murmur3x86_128, viewOf } from '../../../src/driver/murmur3.js';
import { ChecksumSum, rowHasher, sumChecksums, type RowChecksum } from '../../../src/backup/row-checksum.js';
import type { RowFraming } from '../../../src/driver/driver-module.js';
import { RowsSplitter, ROWS_HEADER_BYTES } from '../../../drivers/mysql/internal/rows-format.js';

function hashPieces(framing: RowFraming, pieces: readonly Uint8Array[]): RowChecksum {
  const h = rowHasher(framing);
  for (const p of pieces) h.push(p);
  return h.end();
}

/** Every way of cutting `bytes` in two, and in pieces of one byte. */
function cuts(bytes: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i <= bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
  out.push([...bytes].map((b) => Uint8Array.of(b)));
  return out;
}

/** The checksum by definition: BigInt sum of each row's hash, mod 2^128. */
function reference(rows: readonly Uint8Array[]): RowChecksum {
  const out = new Uint32Array(4);
  let sum = 0n;
  for (const r of rows) {
    murmur3x86_128(viewOf(r), r, 0, r.length, out);
    sum += (BigInt(out[3]!) << 96n) | (BigInt(out[2]!) << 64n) | (BigInt(out[1]!) << 32n) | BigInt(out[0]!);
  }
  return { rows: rows.length, sum: (sum % (1n << 128n)).toString(16).padStart(32, '0') };
}

describe('MurmurHash3 x86_128', () => {
  it("gives SMHasher's verification value 0xB3ECE62A", () => {
    // keys 0, 0 1, 0 1 2, … hashed with seed 256 - length, the hashes hashed again with seed 0
    const key = new Uint8Array(256);
    const hashes = new Uint8Array(256 * 16);
    const out = new Uint32Array(4);
    for (let i = 0; i < 256; i++) {
      key[i] = i;
      murmur3x86_128(viewOf(key), key, 0, i, out, 256 - i);
      hashes.set(new Uint8Array(out.buffer), i * 16);
    }
    murmur3x86_128(viewOf(hashes), hashes, 0, hashes.length, out, 0);
    expect(out[0]!.toString(16)).toBe('b3ece62a');
  });

  it('hashes a range of a larger buffer as the same bytes alone', () => {
    const a = new Uint32Array(4);
    const b = new Uint32Array(4);
    const text = Buffer.from('xx-The quick brown fox jumps over the lazy dog-yy');
    murmur3x86_128(viewOf(text), text, 3, text.length - 3, a);
    const alone = Buffer.from(text.subarray(3, text.length - 3));
    murmur3x86_128(viewOf(alone), alone, 0, alone.length, b);
    expect([...a]).toEqual([...b]);
  });
});

describe('line framing (PostgreSQL COPY text, MySQL LOAD DATA text)', () => {
  // escaped newlines and tabs inside values are two bytes, a backslash and a letter: not row ends
  const rows = ['1\tAda\\nLovelace\t\\N', '2\tGrace\\\\Hopper\t1906-12-09', '', '3\t\\r\\t\\0\tx'].map((r) =>
    Buffer.from(r),
  );
  const stream = Buffer.from(rows.map((r) => `${r.toString()}\n`).join(''));

  it('finds the same rows in a stream cut at every offset', () => {
    const want = reference(rows);
    expect(hashPieces('lines', [stream])).toEqual(want);
    for (const pieces of cuts(stream)) expect(hashPieces('lines', pieces)).toEqual(want);
  });

  it('counts bytes after the last newline as a last row', () => {
    const noEnd = stream.subarray(0, stream.length - 1);
    expect(hashPieces('lines', [noEnd])).toEqual(reference(rows));
    expect(hashPieces('lines', [])).toEqual({ rows: 0, sum: '0'.repeat(32) });
  });

  it('tells a changed byte, a lost row and a duplicated row apart from the original', () => {
    const want = hashPieces('lines', [stream]);
    const changed = Buffer.from(stream);
    changed[3] = 0x62; // Ada -> Ada with one letter changed
    expect(hashPieces('lines', [changed]).sum).not.toBe(want.sum);
    expect(hashPieces('lines', [stream.subarray(stream.indexOf(0x0a) + 1)]).rows).toBe(rows.length - 1);
    expect(hashPieces('lines', [stream, stream.subarray(0, stream.indexOf(0x0a) + 1)]).rows).toBe(
      rows.length + 1,
    );
  });
});

describe('BSON framing (MongoDB)', () => {
  const docs = [
    { _id: 1, name: 'Ada', tags: ['a', 'b'] },
    { _id: 2, note: 'line\nbreak', nested: { deep: { x: 1.5 } } },
    { _id: 3 },
    { _id: 4, blob: 'x'.repeat(300) },
  ].map((d) => serialize(d));
  const stream = Buffer.concat(docs);

  it('finds the same documents in a stream cut at every offset', () => {
    const want = reference(docs);
    expect(want.rows).toBe(4);
    expect(hashPieces('bson', [stream])).toEqual(want);
    for (const pieces of cuts(stream)) expect(hashPieces('bson', pieces)).toEqual(want);
  });

  it('finds them in three pieces cut at any two offsets', () => {
    const want = reference(docs);
    for (let i = 0; i < stream.length; i += 7)
      for (let j = i; j <= stream.length; j += 5)
        expect(
          hashPieces('bson', [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]),
        ).toEqual(want);
  });

  it('counts a truncated last document as a row, so the count and sum differ', () => {
    const cut = hashPieces('bson', [stream.subarray(0, stream.length - 3)]);
    expect(cut.rows).toBe(4);
    expect(cut.sum).not.toBe(reference(docs).sum);
  });
});

describe("a driver's own splitter (MySQL mysql-rows/1: the field count, then row packets)", () => {
  const framing: RowFraming = { splitter: () => new RowsSplitter() };
  /** A row of length-encoded fields (0xFB for NULL). */
  const row = (fields: readonly (string | null)[]): Uint8Array =>
    Buffer.concat(
      fields.map((f) =>
        f === null ? Buffer.from([0xfb]) : Buffer.concat([Buffer.from([f.length]), Buffer.from(f)]),
      ),
    );
  const rows = [row(['1', 'Ada', null]), row(['2', 'tab\there', '']), row(['3', 'x'.repeat(200), 'y'])];
  const head = Buffer.alloc(ROWS_HEADER_BYTES);
  head.writeUInt16LE(3);
  const stream = Buffer.concat([head, ...rows]);

  it('finds the rows, without the header, in a stream cut at every offset', () => {
    const expected = reference(rows);
    for (const pieces of cuts(stream)) expect(hashPieces(framing, pieces)).toEqual(expected);
  });

  it('counts damage as one more row instead of throwing: a cut last row, a malformed length', () => {
    const expected = reference(rows);
    const cut = hashPieces(framing, [stream.subarray(0, stream.length - 1)]);
    expect(cut.rows).toBe(3);
    expect(cut.sum).not.toBe(expected.sum);
    const bad = Buffer.from(stream);
    bad[ROWS_HEADER_BYTES] = 0xff;
    expect(hashPieces(framing, [bad]).rows).toBe(1);
  });
});

describe('the sum mod 2^128', () => {
  const rows = Array.from({ length: 50 }, (_, i) => Buffer.from(`${i}\tcontact ${i}`));
  const lines = (rs: readonly Buffer[]): Buffer => Buffer.from(rs.map((r) => `${r.toString()}\n`).join(''));

  it('does not depend on row order, and the parts of a split table add up to the whole', () => {
    const whole = hashPieces('lines', [lines(rows)]);
    expect(hashPieces('lines', [lines([...rows].reverse())])).toEqual(whole);
    const parts = [rows.slice(0, 7), rows.slice(7, 30), rows.slice(30)].map((p) =>
      hashPieces('lines', [lines(p)]),
    );
    expect(sumChecksums(parts)).toEqual(whole);
    expect(whole).toEqual(reference(rows));
  });

  it('wraps at 2^128 and carries between lanes, also past the normalising interval', () => {
    const s = new ChecksumSum();
    s.addChecksum({ rows: 1, sum: 'f'.repeat(32) });
    s.addChecksum({ rows: 1, sum: '1' });
    expect(s.result()).toEqual({ rows: 2, sum: '0'.repeat(32) });
    const many = new ChecksumSum();
    const n = 2 ** 20 + 3;
    for (let i = 0; i < n; i++) many.addWords(0xffffffff, 0xffffffff, 0, 0x80000000);
    const want = (BigInt(n) * ((0x80000000n << 96n) | 0xffffffffffffffffn)) % (1n << 128n);
    expect(many.result().sum).toBe(want.toString(16).padStart(32, '0'));
  });
});
