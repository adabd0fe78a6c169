/**
 * MurmurHash3 x86_128 (Austin Appleby, public domain) over `buf[start, end)`, seed 0, written for
 * one purpose: hashing millions of short rows as a snapshot passes, without allocating. No
 * `node:crypto` call per row: a createHash per row costs more than the hash of a 100-byte row.
 * The four 32-bit words h1..h4 go to `out` (h1 the lowest), as the reference's output in
 * little-endian order; test/unit/core/row-checksum.test.ts checks SMHasher's verification value.
 */
const C1 = 0x239b961b;
const C2 = 0xab0e9789;
const C3 = 0x38b34ae5;
const C4 = 0xa1e38b93;

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** A DataView over `buf`, for murmur3x86_128: one bounds check per 32-bit word instead of four byte reads. */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Fills `out[0..3]` with h1..h4 (unsigned); `view` is `viewOf(buf)`. */
export function murmur3x86_128(
  view: DataView,
  buf: Uint8Array,
  start: number,
  end: number,
  out: Uint32Array,
  seed = 0,
): void {
  const len = end - start;
  let h1 = seed | 0;
  let h2 = h1;
  let h3 = h1;
  let h4 = h1;
  const blocksEnd = start + (len & ~15);
  let i = start;
  for (; i < blocksEnd; i += 16) {
    let k1 = view.getInt32(i, true);
    let k2 = view.getInt32(i + 4, true);
    let k3 = view.getInt32(i + 8, true);
    let k4 = view.getInt32(i + 12, true);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19) + h2;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17) + h3;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15) + h4;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13) + h1;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const rest = len & 15;
  if (rest > 0) {
    // the tail's bytes as the reference's fall-through switch reads them, little-endian per lane
    let k1 = 0;
    let k2 = 0;
    let k3 = 0;
    let k4 = 0;
    for (let j = rest - 1; j >= 0; j--) {
      const b = buf[i + j]!;
      const shift = (j & 3) * 8;
      if (j >= 12) k4 ^= b << shift;
      else if (j >= 8) k3 ^= b << shift;
      else if (j >= 4) k2 ^= b << shift;
      else k1 ^= b << shift;
    }
    if (rest > 12) h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    if (rest > 8) h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    if (rest > 4) h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
  }
  h1 ^= len;
  h2 ^= len;
  h3 ^= len;
  h4 ^= len;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  out[0] = h1;
  out[1] = h2;
  out[2] = h3;
  out[3] = h4;
}
