/**
 * Content-defined chunking: a gear rolling hash with FastCDC-style normalised chunking (a strict mask
 * before the average size, a loose one after), so boundaries follow content and an insertion only
 * changes the chunks around it. State carries across input buffers: where the input was split never
 * moves a boundary. The gear table is derived from the repository's id key, so chunk sizes do not
 * fingerprint known files across repositories.
 */
import { createHmac } from 'node:crypto';
import { LABEL_GEAR, type ChunkerParams } from './format.js';

export const GEAR_TABLE_LEN = 256;

/** gear[8b + j] = int32 little-endian at offset 4j of HMAC-SHA-256(key, LABEL_GEAR || byte b), b = 0..31. */
export function gearTable(key: Uint8Array): Int32Array {
  const table = new Int32Array(GEAR_TABLE_LEN);
  for (let b = 0; b < GEAR_TABLE_LEN / 8; b++) {
    const block = createHmac('sha256', key).update(LABEL_GEAR).update(Uint8Array.of(b)).digest();
    for (let j = 0; j < 8; j++) table[b * 8 + j] = block.readInt32LE(j * 4);
  }
  return table;
}

/** A mask of `bits` ones in the high bits: high bits of the gear hash depend on the last 32 bytes, low bits on fewer. */
export function highMask(bits: number): number {
  return (((1 << bits) - 1) << (32 - bits)) | 0;
}

export function validateChunkerParams(p: ChunkerParams): void {
  const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!(p.min >= 64 && p.min < p.avg && p.avg < p.max && pow2(p.avg) && p.avg >= 1024 && p.max <= 1 << 30)) {
    throw new RangeError(
      `chunker sizes must satisfy 64 <= min < avg < max <= 1 GiB with avg a power of two >= 1 KiB (got ${p.min}/${p.avg}/${p.max})`,
    );
  }
}

/**
 * Scans `buf[start, end)` continuing a chunk that already has `len` bytes and hash `h`. Returns the index
 * just past the cut, or -1 with the state in `out`. Unrolled by four: V8 runs this about twice as fast.
 */
function scan(
  buf: Uint8Array,
  g: Int32Array,
  start: number,
  end: number,
  mask: number,
  st: { h: number },
): number {
  let h = st.h;
  let i = start;
  const end4 = end - 3;
  for (; i < end4; i += 4) {
    h = ((h << 1) + (g[buf[i] as number] as number)) | 0;
    if ((h & mask) === 0) return ((st.h = h), i + 1);
    h = ((h << 1) + (g[buf[i + 1] as number] as number)) | 0;
    if ((h & mask) === 0) return ((st.h = h), i + 2);
    h = ((h << 1) + (g[buf[i + 2] as number] as number)) | 0;
    if ((h & mask) === 0) return ((st.h = h), i + 3);
    h = ((h << 1) + (g[buf[i + 3] as number] as number)) | 0;
    if ((h & mask) === 0) return ((st.h = h), i + 4);
  }
  for (; i < end; i++) {
    h = ((h << 1) + (g[buf[i] as number] as number)) | 0;
    if ((h & mask) === 0) return ((st.h = h), i + 1);
  }
  st.h = h;
  return -1;
}

export class Chunker {
  private readonly maskS: number;
  private readonly maskL: number;
  private pieces: Uint8Array[] = [];
  private len = 0;
  private readonly st = { h: 0 };

  constructor(
    private readonly params: ChunkerParams,
    private readonly gear: Int32Array,
  ) {
    validateChunkerParams(params);
    const bits = Math.round(Math.log2(params.avg));
    this.maskS = highMask(bits + 2);
    this.maskL = highMask(bits - 2);
  }

  /**
   * Feeds input; yields each completed chunk as a fresh Uint8Array owning its buffer. The input is
   * referenced, not copied, until its chunk completes, so producers must not reuse yielded buffers.
   */
  *push(buf: Uint8Array): Generator<Uint8Array> {
    const { min, avg, max } = this.params;
    let pos = 0;
    while (pos < buf.length) {
      let cut = -1;
      let i = pos;
      // No hashing below the minimum size: FastCDC's cut-point skipping, and the hash starts at zero there.
      if (this.len < min) i += Math.min(buf.length - i, min - this.len);
      let len = this.len + (i - pos);
      if (i < buf.length && len < avg) {
        const end = Math.min(buf.length, i + (avg - len));
        cut = scan(buf, this.gear, i, end, this.maskS, this.st);
        len += (cut < 0 ? end : cut) - i;
        i = cut < 0 ? end : cut;
      }
      if (cut < 0 && i < buf.length && len >= avg) {
        const end = Math.min(buf.length, i + (max - len));
        cut = scan(buf, this.gear, i, end, this.maskL, this.st);
        len += (cut < 0 ? end : cut) - i;
        i = cut < 0 ? end : cut;
        if (cut < 0 && len === max) cut = i;
      }
      if (cut < 0) {
        if (i > pos) this.pieces.push(buf.subarray(pos, i));
        this.len = len;
        pos = i;
        continue;
      }
      this.pieces.push(buf.subarray(pos, cut));
      this.len = len;
      pos = cut;
      yield this.take();
    }
  }

  /** The last, possibly short, chunk; undefined when nothing is pending. */
  finish(): Uint8Array | undefined {
    return this.len > 0 ? this.take() : undefined;
  }

  private take(): Uint8Array {
    const out = new Uint8Array(this.len);
    let off = 0;
    for (const p of this.pieces) {
      out.set(p, off);
      off += p.length;
    }
    this.pieces = [];
    this.len = 0;
    this.st.h = 0;
    return out;
  }
}
