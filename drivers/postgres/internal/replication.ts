/**
 * The streaming replication sub-protocol over a node-postgres client: START_REPLICATION as a simple
 * query, then CopyBoth. node-postgres parses the CopyData frames ('d') and emits `copyData` on
 * `client.connection` (the running Query ignores them); we answer with CopyData frames written by
 * `connection.sendCopyFromChunk`. Inside the frames: XLogData 'w' and Primary keepalive 'k' from
 * the server, Standby status update 'r' from us.
 *
 * One session = one connection; it ends on the first error and the owner (change-log-stream.ts)
 * decides whether to reconnect. Backpressure: when the consumer falls behind, the socket is paused so the
 * walsender blocks on TCP instead of our heap growing; status updates keep flowing meanwhile, so
 * wal_sender_timeout does not fire.
 */
import type pg from 'pg';
import { connect, quoteIdent, type PgEndpoint } from './connection.js';
import {
  decodePgOutput,
  pgMicrosToUnixMicros,
  PG_EPOCH_OFFSET_MICROS,
  type PgOutputMessage,
} from './pgoutput.js';
import { bigIntToLsn } from './position.js';

const XLOG_DATA = 0x77; // 'w'
const PRIMARY_KEEPALIVE = 0x6b; // 'k'
const STANDBY_STATUS_UPDATE = 0x72; // 'r'
const TYPE_LENGTH = 1;
const LSN_LENGTH = 8;
const TIMESTAMP_LENGTH = 8;
/** 'w' + dataStart + walEnd + sendTime, then the pgoutput message. */
const XLOG_HEADER_LENGTH = TYPE_LENGTH + LSN_LENGTH + LSN_LENGTH + TIMESTAMP_LENGTH;
/** 'k' + walEnd + sendTime + replyRequested. */
const KEEPALIVE_LENGTH = TYPE_LENGTH + LSN_LENGTH + TIMESTAMP_LENGTH + 1;
/** 'r' + write + flush + apply + clientTime + replyRequested. */
const STATUS_LENGTH = TYPE_LENGTH + 3 * LSN_LENGTH + TIMESTAMP_LENGTH + 1;

/** Standby status cadence; well under the default wal_sender_timeout of 60 s. */
export const STATUS_INTERVAL_MS = 10_000;
/**
 * Like wal_receiver_timeout: a session that receives nothing, not even a keepalive, for this long
 * is presumed dead (a silent network drop would otherwise wait for TCP, ~15 min) and ends.
 * The owner asks for a keepalive every half heartbeat while idle (sendStatus(true)), so a live
 * server is never silent this long.
 */
export const RECEIVE_TIMEOUT_MS = 6 * STATUS_INTERVAL_MS;
/** TCP keepalive probes start after this much idleness (the kernel then gives up after its probes). */
const TCP_KEEPALIVE_DELAY_MS = 10_000;
/** Decoded-but-unconsumed bytes at which the socket is paused, and resumed again. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;

export type ReplicationFrame =
  | {
      readonly kind: 'xlog';
      readonly walStart: bigint;
      readonly walEnd: bigint;
      readonly serverTime: bigint;
      readonly data: Buffer;
    }
  | {
      readonly kind: 'keepalive';
      readonly walEnd: bigint;
      readonly serverTime: bigint;
      readonly replyRequested: boolean;
    };

/** Parses the payload of one CopyData frame of the replication stream; times become Unix µs. */
export function parseReplicationFrame(chunk: Buffer): ReplicationFrame {
  const type = chunk[0];
  if (type === XLOG_DATA && chunk.length >= XLOG_HEADER_LENGTH) {
    return {
      kind: 'xlog',
      walStart: chunk.readBigUInt64BE(TYPE_LENGTH),
      walEnd: chunk.readBigUInt64BE(TYPE_LENGTH + LSN_LENGTH),
      serverTime: pgMicrosToUnixMicros(chunk.readBigInt64BE(TYPE_LENGTH + 2 * LSN_LENGTH)),
      data: chunk.subarray(XLOG_HEADER_LENGTH),
    };
  }
  if (type === PRIMARY_KEEPALIVE && chunk.length === KEEPALIVE_LENGTH) {
    return {
      kind: 'keepalive',
      walEnd: chunk.readBigUInt64BE(TYPE_LENGTH),
      serverTime: pgMicrosToUnixMicros(chunk.readBigInt64BE(TYPE_LENGTH + LSN_LENGTH)),
      replyRequested: chunk[KEEPALIVE_LENGTH - 1] === 1,
    };
  }
  throw new Error(
    `Unexpected replication frame (type 0x${(type ?? 0).toString(16)}, ${chunk.length} bytes); expected XLogData or keepalive.`,
  );
}

/** Standby status update: PostgreSQL moves the slot's confirmed_flush_lsn to `flush`. */
export function encodeStandbyStatus(
  write: bigint,
  flush: bigint,
  nowUnixMicros: bigint,
  replyRequested: boolean,
): Buffer {
  const b = Buffer.alloc(STATUS_LENGTH);
  let o = b.writeUInt8(STANDBY_STATUS_UPDATE, 0);
  o = b.writeBigUInt64BE(write, o);
  o = b.writeBigUInt64BE(flush, o);
  o = b.writeBigUInt64BE(flush, o); // apply: what we report applied is what is durable
  o = b.writeBigInt64BE(nowUnixMicros - PG_EPOCH_OFFSET_MICROS, o);
  b.writeUInt8(replyRequested ? 1 : 0, o);
  return b;
}

/**
 * What the server sent could not be parsed or decoded: a bug (ours or a protocol change), not a
 * connection problem, so reconnecting would only fail the same way again.
 */
export class ReplicationDecodeError extends Error {
  override readonly name = 'ReplicationDecodeError';
  constructor(err: unknown) {
    super((err as Error)?.message ?? String(err), { cause: err });
  }
}

/** The session received nothing for `RECEIVE_TIMEOUT_MS`; `code` makes it retryable like a socket timeout. */
export class ReceiveTimeoutError extends Error {
  override readonly name = 'ReceiveTimeoutError';
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`nothing received from the server for ${ms / 1000} s, not even a keepalive`);
  }
}

export type SessionEvent =
  | {
      readonly kind: 'change';
      readonly message: PgOutputMessage;
      readonly walStart: bigint;
      readonly serverTime: bigint;
      /** Wire size of the message, for backpressure and part sizing. */
      readonly size: number;
    }
  | { readonly kind: 'keepalive'; readonly walEnd: bigint; readonly serverTime: bigint }
  | { readonly kind: 'end'; readonly error: unknown };

export interface SessionOptions {
  readonly slot: string;
  readonly publication: string;
  readonly startLsn: bigint;
  /** The position we may report as flushed; read at every status update. */
  readonly flushed: () => bigint;
  /** Default RECEIVE_TIMEOUT_MS. */
  readonly receiveTimeoutMs?: number;
}

/** Settings for the walsender: the text form of every value must parse back identically elsewhere. */
const WALSENDER_OPTIONS =
  '-c client_encoding=UTF8 -c DateStyle=ISO -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex';

interface RawConnection {
  stream: { pause(): void; resume(): void; destroy(): void; writable: boolean };
  sendCopyFromChunk(chunk: Buffer): void;
  on(event: string, fn: (msg: { chunk: Buffer }) => void): void;
}

export class ReplicationSession {
  private readonly queue: SessionEvent[] = [];
  private head = 0;
  private queuedBytes = 0;
  private paused = false;
  private waiter: (() => void) | undefined;
  private ended = false;
  private written = 0n;
  private readonly timer: NodeJS.Timeout;
  private readonly receiveTimer: NodeJS.Timeout;
  private lastReceivedAt = Date.now();

  private constructor(
    private readonly client: pg.Client,
    private readonly raw: RawConnection,
    private readonly opts: SessionOptions,
  ) {
    this.written = opts.startLsn;
    this.timer = setInterval(() => this.sendStatus(false), STATUS_INTERVAL_MS);
    this.timer.unref();
    const receiveTimeoutMs = opts.receiveTimeoutMs ?? RECEIVE_TIMEOUT_MS;
    this.receiveTimer = setInterval(
      () => this.checkReceived(receiveTimeoutMs),
      Math.max(10, receiveTimeoutMs / 4),
    );
    this.receiveTimer.unref();
  }

  /** Ends the session after silence; not while we paused the socket ourselves (backpressure). */
  private checkReceived(timeoutMs: number): void {
    if (this.ended || this.paused || Date.now() - this.lastReceivedAt < timeoutMs) return;
    this.finish(new ReceiveTimeoutError(timeoutMs));
    // end() would wait for a dead peer: drop the socket, so neither side lingers
    this.raw.stream.destroy();
  }

  /** Connects and starts streaming; rejects with the server's error (slot active, missing, ...). */
  static async start(target: PgEndpoint, opts: SessionOptions): Promise<ReplicationSession> {
    const config = {
      ...target.config,
      options: WALSENDER_OPTIONS,
      keepAlive: true,
      keepAliveInitialDelayMillis: TCP_KEEPALIVE_DELAY_MS,
    };
    const client = await connect({ ...target, config }, { replication: true });
    const raw = client.connection as unknown as RawConnection;
    const session = new ReplicationSession(client, raw, opts);
    const sql =
      `START_REPLICATION SLOT ${quoteIdent(opts.slot)} LOGICAL ${bigIntToLsn(opts.startLsn)} ` +
      `(proto_version '1', publication_names '${opts.publication.replace(/'/g, "''")}', messages 'true')`;
    await new Promise<void>((resolve, reject) => {
      let running = false;
      raw.on('replicationStart', () => {
        running = true;
        resolve();
      });
      raw.on('copyData', (msg) => session.onCopyData(msg.chunk));
      client.on('end', () => session.finish(new Error('the replication connection closed')));
      client.on('error', (err) => session.finish(err));
      client.query(sql).then(
        () => session.finish(new Error('the server ended replication')),
        (err: unknown) => {
          if (!running) reject(err);
          session.finish(err);
        },
      );
    }).catch(async (err: unknown) => {
      await session.close();
      throw err;
    });
    return session;
  }

  /** Backend process id of the walsender, for messages. */
  get pid(): number {
    return (this.client as unknown as { processID: number }).processID;
  }

  private onCopyData(chunk: Buffer): void {
    if (this.ended) return;
    this.lastReceivedAt = Date.now();
    try {
      const frame = parseReplicationFrame(chunk);
      if (frame.kind === 'keepalive') {
        if (frame.walEnd > this.written) this.written = frame.walEnd;
        if (frame.replyRequested) this.sendStatus(false);
        this.push({ kind: 'keepalive', walEnd: frame.walEnd, serverTime: frame.serverTime }, 0);
        return;
      }
      // decode now: pg-protocol reuses the buffer `chunk` points into
      const message = decodePgOutput(frame.data);
      if (message.tag === 'commit' && message.endLsn > this.written) this.written = message.endLsn;
      const size = frame.data.length;
      this.push(
        { kind: 'change', message, walStart: frame.walStart, serverTime: frame.serverTime, size },
        size,
      );
    } catch (err) {
      this.finish(new ReplicationDecodeError(err));
    }
  }

  private push(ev: SessionEvent, bytes: number): void {
    this.queue.push(ev);
    this.queuedBytes += bytes;
    if (!this.paused && this.queuedBytes > HIGH_WATER_BYTES) {
      this.paused = true;
      this.raw.stream.pause();
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The first error (or end) wins; later events are dropped. */
  private finish(error: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.push({ kind: 'end', error }, 0);
  }

  /** Next event in arrival order, or undefined after `timeoutMs` without one; `end` once the connection is gone. */
  async next(timeoutMs?: number): Promise<SessionEvent | undefined> {
    if (this.head >= this.queue.length) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        if (timeoutMs !== undefined) timer = setTimeout(resolve, timeoutMs);
      });
      clearTimeout(timer);
      this.waiter = undefined;
      if (this.head >= this.queue.length) return undefined;
    }
    const ev = this.queue[this.head++] as SessionEvent;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (ev.kind === 'change') this.queuedBytes -= ev.size;
    if (this.paused && this.queuedBytes < LOW_WATER_BYTES) {
      this.paused = false;
      this.lastReceivedAt = Date.now(); // silence while paused was ours
      this.raw.stream.resume();
    }
    return ev;
  }

  /** Reports write/flush positions; `flushed()` is the only source of the flush LSN. */
  sendStatus(replyRequested: boolean): void {
    if (this.ended || !this.raw.stream.writable) return;
    const flush = this.opts.flushed();
    const write = this.written > flush ? this.written : flush;
    const nowMicros = BigInt(Date.now()) * 1000n;
    try {
      this.raw.sendCopyFromChunk(encodeStandbyStatus(write, flush, nowMicros, replyRequested));
    } catch {
      // a dead socket surfaces through the 'end'/'error' events
    }
  }

  /** Sends a last status update and terminates the connection (the walsender exits on Terminate). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.receiveTimer);
    this.sendStatus(false);
    this.finish(undefined);
    if (this.paused) this.raw.stream.resume();
    await Promise.race([this.client.end().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }
}
