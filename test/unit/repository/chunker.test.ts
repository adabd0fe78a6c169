import { describe, expect, it } from 'vitest';
import { Chunker, gearTable } from '../../../src/repository/chunker.js';
import { DEFAULT_CHUNKER, type ChunkerParams } from '../../../src/repository/format.js';
import { randomBytesSeeded } from './helpers.js';

const GEAR = gearTable(new Uint8Array(32).fill(7));
const SMALL: ChunkerParams = { min: 2048, avg: 8192, max: 32768 };

function cut(data: Uint8Array, params: ChunkerParams, splits: number[]): number[] {
  const c = new Chunker(params, GEAR);
  const sizes: number[] = [];
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = splits[i % splits.length] as number;
    for (const chunk of c.push(data.subarray(off, off + n))) sizes.push(chunk.length);
    off += n;
  }
  const last = c.finish();
  if (last) sizes.push(last.length);
  return sizes;
}

describe('Chunker', () => {
  it('finds the same boundaries however the input is split', () => {
    const data = randomBytesSeeded(600_000, 3);
    const whole = cut(data, SMALL, [data.length]);
    expect(whole.length).toBeGreaterThan(20);
    for (const splits of [[1], [2, 3], [7], [4095, 1], [8192], [SMALL.min], [SMALL.avg + 1], [SMALL.max], [100_000], [13, 65536, 999]]) {
      expect(cut(data, SMALL, splits)).toEqual(whole);
    }
    // Every split point in a window around the first boundaries (boundary-adjacent splits are the hard case).
    const first = whole[0] as number;
    for (let at = first - 40; at <= first + 40; at++) expect(cut(data, SMALL, [at, data.length])).toEqual(whole);
  });

  it('respects min and max, and an all-zero input is cut at max', () => {
    const sizes = cut(randomBytesSeeded(2_000_000, 5), SMALL, [65536]);
    for (const s of sizes.slice(0, -1)) {
      expect(s).toBeGreaterThan(SMALL.min);
      expect(s).toBeLessThanOrEqual(SMALL.max);
    }
    const zeros = cut(new Uint8Array(200_000), SMALL, [65536]);
    expect(zeros.slice(0, -1).every((s) => s === SMALL.max)).toBe(true);
  });

  it('averages near the target on random data (default 1 MiB parameters)', () => {
    const data = randomBytesSeeded(96 * 1024 * 1024, 11);
    const sizes = cut(data, DEFAULT_CHUNKER, [1 << 20]);
    const avg = data.length / sizes.length;
    expect(avg).toBeGreaterThan(0.7 * DEFAULT_CHUNKER.avg);
    expect(avg).toBeLessThan(1.5 * DEFAULT_CHUNKER.avg);
  });

  it('only re-cuts around an insertion', () => {
    const data = randomBytesSeeded(400_000, 9);
    const edited = Buffer.concat([data.subarray(0, 200_000), Buffer.from('inserted row'), data.subarray(200_000)]);
    const a = cut(data, SMALL, [4096]);
    const b = cut(edited, SMALL, [4096]);
    const common = a.filter((s, i) => b.includes(s) && i >= 0).length;
    expect(common).toBeGreaterThan(a.length - 4);
  });

  it('derives a different gear table from a different key', () => {
    expect(gearTable(new Uint8Array(32).fill(1))).not.toEqual(gearTable(new Uint8Array(32).fill(2)));
  });
});
