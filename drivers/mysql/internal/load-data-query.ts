/**
 * A SELECT whose result arrives as `mysql-load-data/1` text (internal/load.ts), converted straight
 * from the protocol's row packets: no JavaScript value per field, no object per row.
 *
 * A text-protocol row is its fields in order, each a length-encoded string, or the byte 0xFB for
 * SQL NULL (mysql2 never asks for CLIENT_DEPRECATE_EOF, so column definitions end with an EOF
 * packet and so do the rows). The field bytes are what the server sends (the session reads with
 * character_set_results = binary). Parsing rows into mysql2 values first and encoding those
 * cost about 2.4 times the CPU, and reading was most of a MariaDB snapshot's time.
 *
 * Flow control as in replication.ts: converted chunks queue until the snapshot takes them; above
 * QUEUE_HIGH_BYTES the socket is paused, below QUEUE_LOW_BYTES resumed.
 */
import type { Connection } from 'mysql2';
import { Command, commandPacket, type ConnectionInternals, type PacketLike } from './mysql2-internals.js';

const COM_QUERY = 0x03;
const NULL_BYTE = 0xfb;
const CHUNK = 256 * 1024;
const QUEUE_HIGH_BYTES = 4 * 1024 * 1024;
const QUEUE_LOW_BYTES = 1024 * 1024;

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

  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }
}

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

/** Reads a length-encoded integer at `packet.offset` (the result set header's column count). */
function columnCount(packet: PacketLike): number | undefined {
  const b = packet.buffer;
  const first = b[packet.offset] as number;
  if (first === 0x00) return undefined; // an OK packet: the statement returned no result set
  if (first < 0xfb) return first;
  if (first === 0xfc) return b.readUInt16LE(packet.offset + 1);
  if (first === 0xfd) return b.readUIntLE(packet.offset + 1, 3);
  throw new Error(`unexpected result set header 0x${first.toString(16)}`);
}

type Item = Buffer | { readonly end: true; readonly error?: unknown };

class LoadDataQueryCommand extends Command {
  private fields = 0;
  private seen = 0;
  private readonly out = new Out();

  constructor(
    private readonly sql: string,
    private readonly onChunk: (chunk: Buffer, rows: number) => void,
    private readonly onEnd: (error?: unknown) => void,
  ) {
    super();
  }

  rows = 0;

  start(_packet: unknown, connection: ConnectionInternals): unknown {
    connection.writePacket(commandPacket(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(this.sql, 'utf8')])));
    return LoadDataQueryCommand.prototype.header;
  }

  header(packet: PacketLike): unknown {
    const n = columnCount(packet);
    if (n === undefined) return this.finish(new Error('the statement returned no rows'));
    this.fields = n;
    return LoadDataQueryCommand.prototype.column;
  }

  column(): unknown {
    return ++this.seen === this.fields ? LoadDataQueryCommand.prototype.columnsEnd : LoadDataQueryCommand.prototype.column;
  }

  columnsEnd(packet: PacketLike): unknown {
    if (!packet.isEOF()) return this.finish(new Error('expected the EOF packet after the column definitions'));
    return LoadDataQueryCommand.prototype.row;
  }

  row(packet: PacketLike): unknown {
    // a row whose first field is 2^24 bytes or longer also starts with 0xFE, but is never this short
    if (packet.isEOF()) {
      if (this.out.pos > 0) this.onChunk(this.out.take(), this.rows);
      return this.finish(undefined);
    }
    try {
      appendTextRow(packet.buffer, packet.offset, packet.end, this.fields, this.out);
    } catch (err) {
      return this.finish(err);
    }
    this.rows++;
    if (this.out.pos >= CHUNK) this.onChunk(this.out.take(), this.rows);
    return LoadDataQueryCommand.prototype.row;
  }

  private finish(error: unknown): null {
    this.onEnd(error);
    return null;
  }
}

/**
 * Runs `sql` on `conn` and yields its rows as LOAD DATA text in chunks of about 256 KiB;
 * `onRows` learns the running row count. A consumer that stops early leaves the connection in
 * the middle of a result: its owner must destroy it.
 */
export async function* loadDataQuery(
  conn: Connection,
  sql: string,
  onRows?: (rows: number) => void,
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
  const cmd = new LoadDataQueryCommand(
    sql,
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
