/**
 * COPY in both directions over node-postgres's protocol support (a "submittable" query), so
 * table data streams without an extra dependency: `copyOut` is a pull-based async iterable that
 * pauses the socket when the consumer falls behind; `copyIn` writes CopyData frames and waits
 * for the socket to drain. Neither ever holds a whole table in memory.
 */
import type pg from 'pg';
import { once } from 'node:events';
import { AbortError } from '../../../src/util/errors.js';

/** Output is coalesced into chunks of this size: COPY sends one CopyData message per row. */
const CHUNK_BYTES = 256 * 1024;
/** Ready chunks held before the socket is paused (memory per stream ~ this × CHUNK_BYTES). */
const MAX_READY = 4;

interface PgConnection {
  query(text: string): void;
  endCopyFrom(): void;
  sendCopyFail(msg: string): void;
  stream: NodeJS.ReadWriteStream & {
    writableNeedDrain?: boolean;
    destroyed?: boolean;
    cork(): void;
    uncork(): void;
  };
}

/** Rows reported by a `COPY n` command tag. */
function copyRows(msg: { text?: string }): number {
  const m = /^COPY (\d+)/.exec(msg.text ?? '');
  return m?.[1] ? Number(m[1]) : 0;
}

/** The protocol hooks node-postgres calls on the active query; the unused ones must exist. */
abstract class CopyQuery {
  protected connection: PgConnection | undefined;
  protected error: Error | undefined;
  protected finished = false;
  rows = 0;
  constructor(readonly text: string) {}
  submit(connection: PgConnection): void {
    this.connection = connection;
    connection.query(this.text);
  }
  handleCommandComplete(msg: { text?: string }): void {
    this.rows = copyRows(msg);
  }
  handleReadyForQuery(): void {
    this.finished = true;
    this.wake();
  }
  // after an ErrorResponse node-postgres forgets the query, so no ReadyForQuery reaches us
  handleError(err: Error): void {
    this.error = err;
    this.finished = true;
    this.wake();
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handlePortalSuspended(): void {}
  handleEmptyQuery(): void {}
  handleCopyInResponse(_connection: PgConnection): void {}
  handleCopyData(_msg: { chunk: Buffer }): void {}
  protected abstract wake(): void;
}

class CopyOutQuery extends CopyQuery {
  readonly ready: Buffer[] = [];
  private cur = Buffer.allocUnsafe(CHUNK_BYTES);
  private curLen = 0;
  private waiter: (() => void) | undefined;
  paused = false;

  override handleCopyData(msg: { chunk: Buffer }): void {
    const chunk = msg.chunk;
    // the parser reuses its buffer, so bytes are copied out before the next socket read
    if (this.curLen + chunk.length > CHUNK_BYTES) this.flush();
    if (chunk.length > CHUNK_BYTES) this.ready.push(Buffer.from(chunk));
    else {
      chunk.copy(this.cur, this.curLen);
      this.curLen += chunk.length;
    }
    if (this.ready.length >= MAX_READY && !this.paused) {
      this.paused = true;
      this.connection?.stream.pause();
    }
    this.wake();
  }
  override handleCommandComplete(msg: { text?: string }): void {
    super.handleCommandComplete(msg);
    this.flush();
  }
  private flush(): void {
    if (this.curLen === 0) return;
    this.ready.push(this.cur.subarray(0, this.curLen));
    this.cur = Buffer.allocUnsafe(CHUNK_BYTES);
    this.curLen = 0;
  }
  resume(): void {
    if (this.paused && this.ready.length < MAX_READY / 2) {
      this.paused = false;
      this.connection?.stream.resume();
    }
  }
  protected override wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const chunk = this.ready.shift();
      if (chunk) {
        this.resume();
        return chunk;
      }
      if (this.error) throw this.error;
      if (this.finished) return undefined;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
  get done(): boolean {
    return this.finished;
  }
}

/**
 * Runs `COPY … TO STDOUT` and yields its bytes. If the consumer stops early the COPY is still
 * running on the connection, so `onAbandon` is told to discard that connection.
 */
export async function* copyOut(
  client: pg.Client,
  sql: string,
  opts: { signal?: AbortSignal; onRows?: (rows: number) => void; onAbandon?: () => void },
): AsyncGenerator<Uint8Array> {
  const q = new CopyOutQuery(sql);
  client.query(q as unknown as pg.Submittable);
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new AbortError('interrupted', { cause: opts.signal.reason });
      const chunk = await q.next().catch((err: unknown) => {
        // closing the snapshot on abort kills the connection; report the abort, not the socket
        throw opts.signal?.aborted ? new AbortError('interrupted', { cause: err }) : err;
      });
      if (!chunk) break;
      yield chunk;
    }
    opts.onRows?.(q.rows);
  } finally {
    if (!q.done) opts.onAbandon?.();
  }
}

class CopyInQuery extends CopyQuery {
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private started: ((c: PgConnection) => void) | undefined;
  readonly result = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
  readonly copyMode = new Promise<PgConnection>((resolve) => (this.started = resolve));
  override handleCopyInResponse(connection: PgConnection): void {
    this.started?.(connection);
  }
  protected override wake(): void {
    if (this.error) this.settle?.reject(this.error);
    else this.settle?.resolve();
    // an error before CopyInResponse (no such table) must not leave the pump waiting forever
    this.started?.(undefined as unknown as PgConnection);
  }
  get failed(): Error | undefined {
    return this.error;
  }
}

/**
 * One CopyData message ('d', Int32 length, bytes), written as header and payload in one corked
 * write: node-postgres's sendCopyFromChunk copies every payload into a fresh frame first, which
 * for a restore is a second memcpy and allocation of every byte loaded.
 */
function writeCopyData(conn: PgConnection, chunk: Uint8Array): void {
  // never drop data in silence: the COPY would then commit without it
  if (!conn.stream.writable) throw new Error('the connection closed during COPY');
  const header = Buffer.allocUnsafe(5);
  header[0] = 0x64;
  header.writeUInt32BE(chunk.byteLength + 4, 1);
  conn.stream.cork();
  conn.stream.write(header);
  conn.stream.write(chunk);
  conn.stream.uncork();
}

/** Runs `COPY … FROM STDIN`, feeding it `data` with backpressure; resolves with rows and bytes. */
export async function copyIn(
  client: pg.Client,
  sql: string,
  data: AsyncIterable<Uint8Array>,
  opts: { signal?: AbortSignal },
): Promise<{ rows: number; bytes: number }> {
  const q = new CopyInQuery(sql);
  q.result.catch(() => {});
  client.query(q as unknown as pg.Submittable);
  const conn = await q.copyMode;
  let bytes = 0;
  if (conn && !q.failed) {
    try {
      for await (const chunk of data) {
        if (opts.signal?.aborted) throw new AbortError('interrupted', { cause: opts.signal.reason });
        if (q.failed) break; // the server refused a row; its error is the one worth reporting
        bytes += chunk.byteLength;
        writeCopyData(conn, chunk);
        if (conn.stream.writableNeedDrain) {
          // a server error or a dead socket must end the wait too, not only 'drain'
          await Promise.race([once(conn.stream, 'drain'), q.result.catch(() => {})]);
        }
      }
      conn.endCopyFrom();
    } catch (err) {
      // CopyFail makes the server abandon the COPY and answer with an error we then ignore
      conn.sendCopyFail(err instanceof Error ? err.message : 'input failed');
      await q.result.catch(() => {});
      throw err;
    }
  }
  await q.result;
  return { rows: q.rows, bytes };
}
