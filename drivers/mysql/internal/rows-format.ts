/**
 * `mysql-rows/1`, the snapshot's table data: the number of fields per row (uint16 LE), then the
 * rows one after the other, each the payload of a text-protocol row packet as the server sent it:
 * its fields in order, each a length-encoded string, or the byte 0xFB for SQL NULL. The field
 * bytes are the column's bytes (read with character_set_results = binary). The snapshot only
 * copies packets (rows-query.ts); the restore turns rows into the text `LOAD DATA` reads
 * (internal/load.ts), here, and a row checksum finds rows with RowsSplitter.
 *
 * No length in front of a row: the field count delimits it, and a 4-byte length made the zstd
 * output 3–4% larger (the lengths vary, the text's tabs and newlines do not); without it, 0.8%.
 * Older snapshots hold the text already (`mysql-load-data/1`); the restore loads them as they are.
 */

export const ROWS_FORMAT = 'mysql-rows/1';
/** The field count in front of the rows. */
export const ROWS_HEADER_BYTES = 2;
/** The most columns MySQL and MariaDB allow in a table. */
const MAX_FIELDS = 4096;

const NULL_BYTE = 0xfb;
const CHUNK = 256 * 1024;

/** Output buffer that grows for a row larger than it. */
export class Out {
  buf = Buffer.allocUnsafe(CHUNK * 2);
  pos = 0;

  ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + extra));
    this.buf.copy(bigger, 0, 0, this.pos);
    this.buf = bigger;
  }

  /** The bytes so far, handed over without a copy; the next ones go to a new buffer. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafeSlow(CHUNK * 2);
    this.pos = 0;
    return out;
  }
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
/** The letter after the backslash for each byte LOAD DATA needs escaped, else 0. */
const ESCAPE = new Uint8Array(256);
ESCAPE[0x00] = 0x30; // \0
ESCAPE[TAB] = 0x74; // \t
ESCAPE[NEWLINE] = 0x6e; // \n
ESCAPE[0x0d] = 0x72; // \r
ESCAPE[BACKSLASH] = BACKSLASH;

/** Appends the row packet `payload[start, end)` of `fields` fields to `out` as one LOAD DATA line. */
export function appendTextRow(payload: Buffer, start: number, end: number, fields: number, out: Out): void {
  let p = start;
  // worst case: every byte escaped, plus separators and the NULL markers
  out.ensure(2 * (end - start) + 2 * fields + 1);
  const buf = out.buf;
  let o = out.pos;
  for (let f = 0; f < fields; f++) {
    if (f > 0) buf[o++] = TAB;
    const first = payload[p++] as number;
    if (first === NULL_BYTE) {
      buf[o++] = BACKSLASH;
      buf[o++] = 0x4e; // N
      continue;
    }
    let len: number;
    if (first < 0xfb) len = first;
    else if (first === 0xfc) {
      len = payload.readUInt16LE(p);
      p += 2;
    } else if (first === 0xfd) {
      len = payload.readUIntLE(p, 3);
      p += 3;
    } else if (first === 0xfe) {
      len = Number(payload.readBigUInt64LE(p));
      p += 8;
    } else throw new Error(`malformed row packet: length byte 0x${first.toString(16)}`);
    const stop = p + len;
    if (stop > end) throw new Error('malformed row packet: a field runs past the packet');
    for (; p < stop; p++) {
      const c = payload[p] as number;
      const e = ESCAPE[c] as number;
      if (e === 0) buf[o++] = c;
      else {
        buf[o++] = BACKSLASH;
        buf[o++] = e;
      }
    }
  }
  if (p !== end) throw new Error('malformed row packet: bytes left after the last field');
  buf[o++] = NEWLINE;
  out.pos = o;
}

/**
 * Where the row that starts at `buf[p]` ends, or, when `buf` holds only part of it, minus the
 * least number of bytes from `p` the row needs (the lengths read so far, one byte per field not
 * yet seen), so a caller holds back exactly until then.
 */
export function rowEnd(buf: Uint8Array, p: number, fields: number): number {
  let q = p;
  for (let f = 0; f < fields; f++) {
    if (q >= buf.length) return -(q - p + fields - f);
    const first = buf[q] as number;
    if (first < NULL_BYTE) {
      q += 1 + first;
      continue;
    }
    if (first === NULL_BYTE) {
      q += 1;
      continue;
    }
    const bytes = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : 0;
    if (bytes === 0) throw new Error(`malformed row: length byte 0x${first.toString(16)}`);
    if (q + 1 + bytes > buf.length) return -(q - p + 1 + bytes + fields - f - 1);
    let len = 0;
    for (let k = bytes; k > 0; k--) len = len * 256 + (buf[q + k] as number);
    q += 1 + bytes + len;
  }
  return q > buf.length ? -(q - p) : q;
}

/**
 * Finds the rows of a `mysql-rows/1` stream in the pieces it arrives in. A row cut by a piece
 * boundary is held (copied: the producer may reuse its buffers) until its last byte is in, then
 * put together once, whatever its size.
 */
export class RowsSplitter {
  private fields = -1;
  private pieces: Buffer[] = [];
  private held = 0;
  private need = 0;

  /** `expected`: the field count the rows must have (the table they load into), when known. */
  constructor(private readonly expected?: number) {}

  split(piece: Uint8Array, onRow: (buf: Buffer, start: number, end: number, fields: number) => void): void {
    const buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    let p = 0;
    // a held row takes from this piece only the bytes it still needs, not the whole piece: nearly
    // every piece of a stream starts inside a row, and copying each one whole doubled the copying
    while (this.held > 0 && p < buf.length) {
      const take = Math.min(this.need - this.held, buf.length - p);
      this.pieces.push(Buffer.from(buf.subarray(p, p + take)));
      this.held += take;
      p += take;
      if (this.held < this.need) return;
      const joined = Buffer.concat(this.pieces, this.held);
      this.pieces = [];
      this.held = 0;
      // `need` was a lower bound: the joined bytes may show the row needs more, held again
      this.rows(joined, 0, onRow);
    }
    if (this.held === 0) this.rows(buf, p, onRow);
  }

  private rows(
    buf: Buffer,
    from: number,
    onRow: (buf: Buffer, start: number, end: number, fields: number) => void,
  ): void {
    let p = from;
    if (this.fields < 0) {
      if (buf.length - p < ROWS_HEADER_BYTES) return this.hold(buf, p, ROWS_HEADER_BYTES);
      this.fields = buf.readUInt16LE(p);
      if (this.fields < 1 || this.fields > MAX_FIELDS)
        throw new Error(`malformed rows: ${this.fields} fields per row`);
      if (this.expected !== undefined && this.fields !== this.expected)
        throw new Error(`the rows hold ${this.fields} fields each, the table ${this.expected} columns`);
      p += ROWS_HEADER_BYTES;
    }
    const fields = this.fields;
    while (p < buf.length) {
      const end = rowEnd(buf, p, fields);
      if (end < 0) return this.hold(buf, p, -end);
      onRow(buf, p, end, fields);
      p = end;
    }
  }

  /** After the last piece: throws when it ended inside a row. */
  end(): void {
    if (this.held > 0) throw new Error(`the data ends inside a row (${this.held} bytes of it)`);
  }

  private hold(buf: Buffer, from: number, need: number): void {
    this.pieces = [Buffer.from(buf.subarray(from))];
    this.held = buf.length - from;
    this.need = need;
  }
}

/**
 * `mysql-rows/1` as LOAD DATA text, in chunks of about 256 KiB. The rows must hold `fields`
 * fields (the dumped columns of the table they load into; another count means the rows and the
 * table do not belong together).
 */
export async function* rowsToLoadData(
  data: AsyncIterable<Uint8Array>,
  fields: number,
): AsyncGenerator<Uint8Array> {
  const out = new Out();
  const rows = new RowsSplitter(fields);
  const ready: Buffer[] = [];
  const onRow = (buf: Buffer, start: number, end: number): void => {
    appendTextRow(buf, start, end, fields, out);
    if (out.pos >= CHUNK) ready.push(out.take());
  };
  for await (const chunk of data) {
    rows.split(chunk, onRow);
    while (ready.length) yield ready.shift() as Buffer;
  }
  rows.end();
  if (out.pos > 0) yield out.take();
}
