/**
 * The sum behind per-table content checksums (src/backup/row-checksum.ts): the row count and the
 * sum, modulo 2^128, of a 128-bit hash of every row's bytes in the form the driver dumps them
 * (murmur3.ts). Part of the driver contract because a driver may hash its rows as it produces them
 * (`TableStream.rowChecksum`): it must get the very sum the core would.
 */
import { murmur3x86_128 } from './murmur3.js';

/** What a snapshot manifest stores per table stream (`StoredTableStream.checksum`). */
export interface RowChecksum {
  readonly rows: number;
  /** The sum mod 2^128 as 32 lowercase hex digits. */
  readonly sum: string;
}

const LANE = 2 ** 32;
/** Lanes are doubles: 2^20 additions of a 32-bit word stay far below 2^53, then carries move up. */
const NORMALISE_EVERY = 2 ** 20;

/** A running sum of 128-bit row hashes in four 32-bit lanes (l0 the lowest). */
export class ChecksumSum {
  rows = 0;
  private l0 = 0;
  private l1 = 0;
  private l2 = 0;
  private l3 = 0;
  private pending = 0;
  private readonly h = new Uint32Array(4);

  /** Hashes `buf[start, end)` as one row and adds it; `view` is `viewOf(buf)`. */
  addRow(view: DataView, buf: Uint8Array, start: number, end: number): void {
    const h = this.h;
    murmur3x86_128(view, buf, start, end, h);
    this.addWords(h[0]!, h[1]!, h[2]!, h[3]!);
    this.rows++;
  }

  /** Adds the 128-bit value w0 + w1·2^32 + w2·2^64 + w3·2^96 (each word unsigned 32-bit). */
  addWords(w0: number, w1: number, w2: number, w3: number): void {
    this.l0 += w0;
    this.l1 += w1;
    this.l2 += w2;
    this.l3 += w3;
    if (++this.pending >= NORMALISE_EVERY) this.normalise();
  }

  /** Adds a stored checksum (another part of the same table). */
  addChecksum(c: RowChecksum): void {
    const hex = c.sum.padStart(32, '0');
    this.addWords(
      parseInt(hex.slice(24, 32), 16),
      parseInt(hex.slice(16, 24), 16),
      parseInt(hex.slice(8, 16), 16),
      parseInt(hex.slice(0, 8), 16),
    );
    this.rows += c.rows;
  }

  result(): RowChecksum {
    this.normalise();
    const hex = [this.l3, this.l2, this.l1, this.l0].map((l) => l.toString(16).padStart(8, '0')).join('');
    return { rows: this.rows, sum: hex };
  }

  private normalise(): void {
    let carry = Math.floor(this.l0 / LANE);
    this.l0 -= carry * LANE;
    this.l1 += carry;
    carry = Math.floor(this.l1 / LANE);
    this.l1 -= carry * LANE;
    this.l2 += carry;
    carry = Math.floor(this.l2 / LANE);
    this.l2 -= carry * LANE;
    this.l3 += carry;
    // what carries out of the top lane is the 2^128 the sum is taken modulo
    this.l3 -= Math.floor(this.l3 / LANE) * LANE;
    this.pending = 0;
  }
}
