/**
 * Per-table content checksums: the row count and the sum, modulo 2^128, of a 128-bit hash of
 * every row's bytes in the form the driver dumps them (murmur3.ts). A sum does not depend on the
 * order of the rows, so the parts of a split table, streams stored by parallel workers and a
 * re-dump of a restored database in another order all add up to the same per-table total.
 * A row is found by the framing its driver declares (DriverModule.rowFraming); rows cross the
 * pieces a stream arrives in, and only a row cut by a piece boundary is copied.
 */
import type { RowFraming, RowSplitter } from '../driver/driver-module.js';
import { viewOf } from '../driver/murmur3.js';
import { ChecksumSum, type RowChecksum } from '../driver/row-sum.js';

export { ChecksumSum, type RowChecksum } from '../driver/row-sum.js';

/** The per-table total of several checksums (the parts `t#1..#n` of a split table). */
export function sumChecksums(parts: readonly RowChecksum[]): RowChecksum {
  const s = new ChecksumSum();
  for (const p of parts) s.addChecksum(p);
  return s.result();
}

export function sameChecksum(a: RowChecksum, b: RowChecksum): boolean {
  return a.rows === b.rows && a.sum === b.sum;
}

/** Feeds a stream's pieces in order, then `end()` once: the checksum of the rows they hold. */
export interface RowHasher {
  push(piece: Uint8Array): void;
  end(): RowChecksum;
}

export function rowHasher(framing: RowFraming): RowHasher {
  if (framing === 'lines') return new LineHasher();
  if (framing === 'bson') return new BsonHasher();
  return new SplitterHasher(framing.splitter());
}

/**
 * Rows a driver's splitter finds. Damage the splitter refuses (a malformed length, an end inside a
 * row) is counted as one more row hashed from nothing, so the count and sum differ, never a throw:
 * the snapshot is not stopped by its checksum, and a drill reports a mismatch.
 */
class SplitterHasher implements RowHasher {
  private readonly sum = new ChecksumSum();
  private broken = false;
  private lastBuf: Uint8Array | undefined;
  private lastView: DataView | undefined;
  private readonly onRow = (buf: Uint8Array, start: number, end: number): void => {
    if (buf !== this.lastBuf) {
      this.lastBuf = buf;
      this.lastView = viewOf(buf);
    }
    this.sum.addRow(this.lastView as DataView, buf, start, end);
  };

  constructor(private readonly splitter: RowSplitter) {}

  push(piece: Uint8Array): void {
    if (this.broken) return;
    try {
      this.splitter.split(piece, this.onRow);
    } catch {
      this.broken = true;
    }
  }

  end(): RowChecksum {
    try {
      if (!this.broken) this.splitter.end();
    } catch {
      this.broken = true;
    }
    this.lastBuf = undefined;
    if (this.broken) this.sum.addRow(viewOf(new Uint8Array(0)), new Uint8Array(0), 0, 0);
    return this.sum.result();
  }
}

const NEWLINE = 0x0a;

/** A row per `\n`, without it; bytes after the last `\n` are a last row (a stream need not end with one). */
class LineHasher implements RowHasher {
  private readonly sum = new ChecksumSum();
  private head: Uint8Array[] = [];

  push(piece: Uint8Array): void {
    let start = 0;
    const view = viewOf(piece);
    for (;;) {
      const nl = piece.indexOf(NEWLINE, start);
      if (nl < 0) break;
      if (this.head.length > 0) {
        const row = concat([...this.head, piece.subarray(start, nl)]);
        this.head = [];
        this.sum.addRow(viewOf(row), row, 0, row.length);
      } else this.sum.addRow(view, piece, start, nl);
      start = nl + 1;
    }
    // a copy: the producer may reuse its buffer once the piece has been passed on
    if (start < piece.length) this.head.push(piece.slice(start));
  }

  end(): RowChecksum {
    if (this.head.length > 0) {
      const row = concat(this.head);
      this.head = [];
      this.sum.addRow(viewOf(row), row, 0, row.length);
    }
    return this.sum.result();
  }
}

const LENGTH_BYTES = 4;

/** BSON documents, each starting with its own length (int32 LE, the length bytes included). */
class BsonHasher implements RowHasher {
  private readonly sum = new ChecksumSum();
  private head: Uint8Array[] = [];
  private headBytes = 0;

  push(piece: Uint8Array): void {
    let off = 0;
    if (this.headBytes > 0) {
      // finish the document a boundary cut: first its length, then its remaining bytes
      if (this.headBytes < LENGTH_BYTES) {
        const take = Math.min(LENGTH_BYTES - this.headBytes, piece.length);
        this.keep(piece.subarray(0, take));
        off = take;
        if (this.headBytes < LENGTH_BYTES) return;
      }
      const doc = concat(this.head);
      const len = Math.max(docLength(doc, 0), LENGTH_BYTES);
      const take = Math.min(len - doc.length, piece.length - off);
      this.head = [doc, piece.slice(off, off + take)];
      this.headBytes = doc.length + take;
      off += take;
      if (this.headBytes < len) return;
      const whole = concat(this.head);
      this.head = [];
      this.headBytes = 0;
      this.sum.addRow(viewOf(whole), whole, 0, whole.length);
    }
    const view = viewOf(piece);
    while (piece.length - off >= LENGTH_BYTES) {
      // a length below the 4 bytes of its own prefix is damage: it is hashed as a row of 4 bytes,
      // so the count and sum differ, rather than looping here
      const len = Math.max(docLength(piece, off), LENGTH_BYTES);
      if (off + len > piece.length) break;
      this.sum.addRow(view, piece, off, off + len);
      off += len;
    }
    if (off < piece.length) this.keep(piece.slice(off));
  }

  end(): RowChecksum {
    if (this.headBytes > 0) {
      const rest = concat(this.head);
      this.head = [];
      this.headBytes = 0;
      this.sum.addRow(viewOf(rest), rest, 0, rest.length);
    }
    return this.sum.result();
  }

  private keep(bytes: Uint8Array): void {
    this.head.push(bytes.slice());
    this.headBytes += bytes.length;
  }
}

function docLength(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `src` as it is, each piece also fed to `hasher` (no copy). */
export async function* hashedAsItPasses(
  src: AsyncIterable<Uint8Array>,
  hasher: RowHasher,
): AsyncGenerator<Uint8Array> {
  for await (const piece of src) {
    hasher.push(piece);
    yield piece;
  }
}
