/**
 * A SELECT whose result arrives as `mysql-rows/1` (internal/rows-format.ts): the field count,
 * then each row packet's payload as the server sent it. No JavaScript value per field, no object
 * per row, no byte looked at: one copy per row.
 *
 * A text-protocol row is its fields in order, each a length-encoded string, or the byte 0xFB for
 * SQL NULL (mysql2 never asks for CLIENT_DEPRECATE_EOF, so column definitions end with an EOF
 * packet and so do the rows). The field bytes are what the server sends (the session reads with
 * character_set_results = binary). Converting each row to LOAD DATA text here cost about 3 ms of
 * the one JavaScript thread per MB (3 s per GB, the largest part of the snapshot's own CPU); the
 * restore converts instead, where the server's loading, not the client, sets the pace.
 *
 * Flow control as in replication.ts: converted chunks queue until the snapshot takes them; above
 * QUEUE_HIGH_BYTES the socket is paused, below QUEUE_LOW_BYTES resumed.
 */
import type { Connection } from 'mysql2';
import { Command, commandPacket, type ConnectionInternals, type PacketLike } from './mysql2-internals.js';
import { Out, ROWS_HEADER_BYTES } from './rows-format.js';

const COM_QUERY = 0x03;
const CHUNK = 256 * 1024;
const QUEUE_HIGH_BYTES = 4 * 1024 * 1024;
const QUEUE_LOW_BYTES = 1024 * 1024;

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

class RowsQueryCommand extends Command {
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
    connection.writePacket(
      commandPacket(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(this.sql, 'utf8')])),
    );
    return RowsQueryCommand.prototype.header;
  }

  header(packet: PacketLike): unknown {
    const n = columnCount(packet);
    if (n === undefined) return this.finish(new Error('the statement returned no rows'));
    this.fields = n;
    return RowsQueryCommand.prototype.column;
  }

  column(): unknown {
    return ++this.seen === this.fields
      ? RowsQueryCommand.prototype.columnsEnd
      : RowsQueryCommand.prototype.column;
  }

  columnsEnd(packet: PacketLike): unknown {
    if (!packet.isEOF())
      return this.finish(new Error('expected the EOF packet after the column definitions'));
    this.out.ensure(ROWS_HEADER_BYTES);
    this.out.buf.writeUInt16LE(this.fields, 0);
    this.out.pos = ROWS_HEADER_BYTES;
    return RowsQueryCommand.prototype.row;
  }

  row(packet: PacketLike): unknown {
    // a row whose first field is 2^24 bytes or longer also starts with 0xFE, but is never this short
    if (packet.isEOF()) {
      if (this.out.pos > 0) this.onChunk(this.out.take(), this.rows);
      return this.finish(undefined);
    }
    const length = packet.end - packet.offset;
    const out = this.out;
    out.ensure(length);
    packet.buffer.copy(out.buf, out.pos, packet.offset, packet.end);
    out.pos += length;
    this.rows++;
    if (this.out.pos >= CHUNK) this.onChunk(this.out.take(), this.rows);
    return RowsQueryCommand.prototype.row;
  }

  private finish(error: unknown): null {
    this.onEnd(error);
    return null;
  }
}

/**
 * Runs `sql` on `conn` and yields its rows as `mysql-rows/1` in chunks of about 256 KiB;
 * `onRows` learns the running row count. A consumer that stops early leaves the connection in
 * the middle of a result: its owner must destroy it.
 */
export async function* rowsQuery(
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
  const cmd = new RowsQueryCommand(
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
