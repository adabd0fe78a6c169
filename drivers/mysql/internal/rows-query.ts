/**
 * A SELECT whose result arrives as `mysql-rows/1` (internal/rows-format.ts): the field count,
 * then each row packet's payload as the server sent it. No JavaScript value per field, no object
 * per row.
 *
 * A text-protocol row is its fields in order, each a length-encoded string, or the byte 0xFB for
 * SQL NULL (mysql2 never asks for CLIENT_DEPRECATE_EOF, so column definitions end with an EOF
 * packet and so do the rows). The field bytes are what the server sends (the session reads with
 * character_set_results = binary). Converting each row to LOAD DATA text here cost about 3 ms of
 * the one JavaScript thread per MB (3 s per GB, the largest part of the snapshot's own CPU); the
 * restore converts instead, where the server's loading, not the client, sets the pace.
 *
 * The result is read off the socket by RawRows, not by mysql2's packet parser: mysql2 hands every
 * packet to the connection's handler and the command's state one at a time (sequence checks,
 * error checks, a state call), and the row is then copied on its own — about 0.3 µs per row, a
 * second or more of the one JavaScript thread per GB of CRM rows. RawRows appends each socket
 * chunk to the output buffer in one copy and then moves each row's payload over the 4-byte
 * header in front of it (`copyWithin`, no allocation), hashing the row for the table's checksum
 * while its bytes are at hand. The packet that ends the result (EOF, or an ERR: the query was
 * killed, the server ran out of something) and anything after it go back to mysql2's parser,
 * which hands them to RowsQueryCommand as to any command: mysql2 keeps owning errors and the
 * connection's state.
 *
 * Flow control as in replication.ts: chunks queue until the snapshot takes them; above
 * QUEUE_HIGH_BYTES the socket is paused, below QUEUE_LOW_BYTES resumed.
 */
import type { Connection } from 'mysql2';
import type { ChecksumSum } from '../../../src/driver/row-sum.js';
import { viewOf } from '../../../src/driver/murmur3.js';
import { Command, commandPacket, type ConnectionInternals, type PacketLike } from './mysql2-internals.js';
import { Out, ROWS_HEADER_BYTES } from './rows-format.js';

const COM_QUERY = 0x03;
const CHUNK = 256 * 1024;
const QUEUE_HIGH_BYTES = 4 * 1024 * 1024;
const QUEUE_LOW_BYTES = 1024 * 1024;
const HEADER = 4;
/** A payload of this length continues in the next packet (a row of 16 MiB or more). */
const MAX_PAYLOAD = 0xffffff;
const EOF_BYTE = 0xfe;
const ERR_BYTE = 0xff;

/** The column count of a result set header (a length-encoded integer), or undefined for any other packet. */
function columnCount(b: Buffer, p: number, len: number): number | undefined {
  const first = b[p] as number;
  // 0x00 OK (no result set), 0xFB a LOCAL INFILE request, 0xFF ERR: mysql2 deals with those
  if (first > 0x00 && first < 0xfb) return len === 1 ? first : undefined;
  if (first === 0xfc && len === 3) return b.readUInt16LE(p + 1);
  return undefined;
}

/** What a connection's 'data' listener calls: `connection.packetParser.execute(chunk)`. */
export interface Parser {
  execute(chunk: Buffer): unknown;
}

export interface RawConnection extends ConnectionInternals {
  packetParser: Parser;
  sequenceId: number;
  config: { compress?: boolean };
}

/** Where in the result set RawRows is: its header, the column definitions, the EOF after them, the rows. */
const HEADER_PHASE = 0;
const COLUMNS = 1;
const COLUMNS_END = 2;
const ROWS = 3;
type Phase = typeof HEADER_PHASE | typeof COLUMNS | typeof COLUMNS_END | typeof ROWS;

/**
 * Reads one result set's packets off the socket in place of mysql2's parser (see the file's
 * comment), from the result set header to the packet after the last row.
 */
export class RawRows implements Parser {
  private phase: Phase = HEADER_PHASE;
  private fields = 0;
  private columnsLeft = 0;
  /** Raw bytes of an incomplete packet, kept at out.buf[out.pos, out.pos + pending). */
  private pending = 0;
  /** The last packet was MAX_PAYLOAD long: the next one continues the same row. */
  private continuing = false;
  /** Where the row being continued starts in out.buf. */
  private rowStart = 0;
  private view: DataView;
  private viewOf: Buffer;
  private done = false;
  rows = 0;

  constructor(
    private readonly conn: RawConnection,
    private readonly mysql2: Parser,
    private readonly out: Out,
    private readonly sum: ChecksumSum | undefined,
    private readonly onChunk: (chunk: Buffer, rows: number) => void,
    private readonly onFields: (fields: number) => void,
  ) {
    this.viewOf = out.buf;
    this.view = viewOf(out.buf);
  }

  execute(chunk: Buffer): void {
    if (this.done) {
      this.mysql2.execute(chunk);
      return;
    }
    const out = this.out;
    // the incomplete packet's bytes must move with the rows if the buffer grows
    out.pos += this.pending;
    out.ensure(chunk.length);
    out.pos -= this.pending;
    const buf = out.buf;
    if (buf !== this.viewOf) {
      this.viewOf = buf;
      this.view = viewOf(buf);
    }
    buf.set(chunk, out.pos + this.pending);
    const end = out.pos + this.pending + chunk.length;
    let src = out.pos;
    let dst = out.pos;
    while (end - src >= HEADER) {
      const len = (buf[src] as number) | ((buf[src + 1] as number) << 8) | ((buf[src + 2] as number) << 16);
      const p = src + HEADER;
      if (end - p < len) break;
      if (this.phase === ROWS) {
        if (!this.continuing) {
          const first = buf[p] as number;
          // a row whose first field is 2^24 bytes or longer also starts with 0xFE, but is never this short
          if ((first === EOF_BYTE && len < 9) || first === ERR_BYTE) return this.handBack(src, end, dst);
          this.rowStart = dst;
        }
        buf.copyWithin(dst, p, p + len);
        dst += len;
        this.continuing = len === MAX_PAYLOAD;
        if (!this.continuing) {
          this.rows++;
          this.sum?.addRow(this.view, buf, this.rowStart, dst);
        }
      } else if (this.phase === HEADER_PHASE) {
        const n = columnCount(buf, p, len);
        if (n === undefined) return this.handBack(src, end, dst);
        this.fields = n;
        this.columnsLeft = n;
        this.phase = COLUMNS;
      } else if (this.phase === COLUMNS) {
        if ((buf[p] as number) === ERR_BYTE) return this.handBack(src, end, dst);
        if (--this.columnsLeft === 0) this.phase = COLUMNS_END;
      } else {
        if (!((buf[p] as number) === EOF_BYTE && len < 9)) return this.handBack(src, end, dst);
        // dst is still where the rows begin: every packet so far was skipped, none copied
        buf.writeUInt16LE(this.fields, dst);
        dst += ROWS_HEADER_BYTES;
        this.onFields(this.fields);
        this.phase = ROWS;
      }
      src = p + len;
    }
    if (end > src && dst < src) buf.copyWithin(dst, src, end);
    this.pending = end - src;
    out.pos = dst;
    // a row being continued stays in this buffer until its last packet: its checksum reads it whole
    if (out.pos >= CHUNK && !this.continuing) this.emit();
  }

  /** Hands the completed rows on; the incomplete packet after them moves to the next buffer. */
  private emit(): void {
    const out = this.out;
    const tail =
      this.pending > 0 ? Buffer.from(out.buf.subarray(out.pos, out.pos + this.pending)) : undefined;
    this.onChunk(out.take(), this.rows);
    if (tail) {
      out.ensure(tail.length);
      tail.copy(out.buf, 0);
    }
  }

  /**
   * The packet at `src` ends the result (or is not what a result set holds): it and every byte
   * after it go back to mysql2's parser, which hands them to the command's state.
   */
  private handBack(src: number, end: number, dst: number): void {
    const out = this.out;
    const rest = Buffer.from(out.buf.subarray(src, end));
    out.pos = dst;
    this.pending = 0;
    this.done = true;
    this.conn.packetParser = this.mysql2;
    // the packets read here counted toward the sequence mysql2 checks each packet against
    this.conn.sequenceId = rest[3] as number;
    this.mysql2.execute(rest);
  }
}

type Item = Buffer | { readonly end: true; readonly error?: unknown };

class RowsQueryCommand extends Command {
  readonly out = new Out();
  reader: RawRows | undefined;
  /** Set once the rows' header went by: the result is rows, and they end with EOF. */
  rowsStarted = false;

  constructor(
    private readonly sql: string,
    private readonly sum: ChecksumSum | undefined,
    private readonly onChunk: (chunk: Buffer, rows: number) => void,
    private readonly onEnd: (error?: unknown) => void,
  ) {
    super();
  }

  get rows(): number {
    return this.reader?.rows ?? 0;
  }

  start(_packet: unknown, connection: ConnectionInternals): unknown {
    const conn = connection as RawConnection;
    if (conn.config.compress || typeof conn.packetParser?.execute !== 'function')
      return this.finish(new Error('reading rows needs an uncompressed mysql2 connection'));
    this.reader = new RawRows(
      conn,
      conn.packetParser,
      this.out,
      this.sum,
      this.onChunk,
      () => (this.rowsStarted = true),
    );
    conn.packetParser = this.reader;
    connection.writePacket(
      commandPacket(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(this.sql, 'utf8')])),
    );
    return RowsQueryCommand.prototype.last;
  }

  /** The packet RawRows handed back: the EOF after the rows, or an OK (no result set). ERR never gets here. */
  last(packet: PacketLike): unknown {
    if (this.rowsStarted && packet.isEOF()) {
      if (this.out.pos > 0) this.onChunk(this.out.take(), this.rows);
      return this.finish(undefined);
    }
    const first = packet.buffer[packet.offset] as number;
    if (first === 0x00) return this.finish(new Error('the statement returned no rows'));
    return this.finish(new Error(`unexpected packet 0x${first.toString(16)} in a result set`));
  }

  private finish(error: unknown): null {
    this.onEnd(error);
    return null;
  }
}

/**
 * Runs `sql` on `conn` and yields its rows as `mysql-rows/1` in chunks of about 256 KiB;
 * `onRows` learns the running row count; `sum`, when given, gets every row's hash (the
 * checksum RowsSplitter's rows would give, without splitting them again). A consumer that stops
 * early leaves the connection in the middle of a result: its owner must destroy it.
 */
export async function* rowsQuery(
  conn: Connection,
  sql: string,
  onRows?: (rows: number) => void,
  sum?: ChecksumSum,
): AsyncGenerator<Uint8Array> {
  const c = conn as unknown as ConnectionInternals;
  const queue: Item[] = [];
  let queued = 0;
  let paused = false;
  let waiter: (() => void) | undefined;
  const wake = (): void => {
    const w = waiter;
    waiter = undefined;
    w?.();
  };
  let ended = false;
  const end = (error?: unknown): void => {
    if (ended) return;
    ended = true;
    queue.push(error === undefined ? { end: true } : { end: true, error });
    wake();
  };
  const cmd = new RowsQueryCommand(
    sql,
    sum,
    (chunk, rows) => {
      queue.push(chunk);
      queued += chunk.length;
      onRows?.(rows);
      if (!paused && queued > QUEUE_HIGH_BYTES) {
        paused = true;
        c.pause();
      }
      wake();
    },
    end,
  );
  cmd.on('error', (err) => end(err));
  c.addCommand(cmd);
  try {
    for (;;) {
      if (!queue.length) await new Promise<void>((resolve) => (waiter = resolve));
      const item = queue.shift() as Item;
      if (Buffer.isBuffer(item)) {
        queued -= item.length;
        if (paused && queued < QUEUE_LOW_BYTES) {
          paused = false;
          c.resume();
        }
        yield item;
        continue;
      }
      if (item.error !== undefined) throw item.error;
      onRows?.(cmd.rows);
      return;
    }
  } finally {
    if (paused) c.resume();
  }
}
