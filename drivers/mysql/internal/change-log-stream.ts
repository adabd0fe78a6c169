/**
 * The iterating half of the MySQL/MariaDB change log (change-log.ts opens it): one binlog dump at
 * a time, reconnecting with backoff (src/driver/reconnect.ts), each session's events decoded
 * (binlog/decoder.ts) and turned into Transaction parts and Heartbeats (transaction-assembly.ts).
 * Beside it, the admin connection commits the idle markers that src/driver/idle.ts times.
 *
 * Acknowledgement: the binlog has no server-side cursor to advance (retention is the server's
 * binlog_expire_logs_seconds), so `acknowledge` only records the position; a new session resumes
 * after the last transaction handed on (or skipped), which the consumer has, and a new change log
 * from what the repository stored.
 */
import mysql from 'mysql2/promise';
import { heartbeatPollMs, IdleMarkers } from '../../../src/driver/idle.js';
import { LagReporter } from '../../../src/driver/lag-report.js';
import { reconnecting } from '../../../src/driver/reconnect.js';
import type { ChangeLog, ChangeLogItem, Position, StreamOptions } from '../../../src/driver/source-driver.js';
import { binlogGapError, readSession, retryable, streamError } from './change-log-session.js';
import { writeMarker } from './markers.js';
import { comparePositions, formatPosition, type BinlogPosition } from './position.js';
import { BinlogSession } from './replication.js';
import { TransactionAssembler } from './transaction-assembly.js';

export interface MysqlChangeLogConfig {
  readonly params: mysql.ConnectionOptions;
  /** Redacted description of the server, for messages. */
  readonly display: string;
  readonly admin: mysql.Connection;
  readonly opts: StreamOptions;
  readonly start: BinlogPosition;
  readonly sourceName: string;
  readonly database: string;
  readonly serverId: number;
}

export class MysqlChangeLog implements ChangeLog {
  readonly from: Position;
  private acked: Position;
  private session: BinlogSession | undefined;
  private closed = false;
  private started = false;
  private readonly markers: IdleMarkers;
  private readonly assembler: TransactionAssembler;
  /** Idle markers and the gap sentence; replaced when it breaks. */
  private admin: mysql.Connection;

  constructor(private readonly c: MysqlChangeLogConfig) {
    const { opts } = c;
    this.admin = c.admin;
    this.from = formatPosition(c.start);
    this.acked = this.from;
    this.markers = new IdleMarkers({
      ...(opts.markerMs === undefined ? {} : { markerMs: opts.markerMs }),
      emit: async () => {
        if (this.stopped) return false;
        try {
          await writeMarker(this.admin, c.sourceName);
          return true;
        } catch (err) {
          // the connection went (a server restart): a new one for the next tick
          const old = this.admin;
          this.admin = await mysql.createConnection({ ...c.params, multipleStatements: false });
          old.destroy();
          throw err;
        }
      },
    });
    this.assembler = new TransactionAssembler(c.start, {
      database: c.database,
      sourceName: c.sourceName,
      lag: new LagReporter(opts.onStatus),
      commit: () => this.markers.committed(),
    });
  }

  private get stopped(): boolean {
    return this.closed || this.c.opts.signal?.aborted === true;
  }

  /** The last acknowledged position (kept for the owner; the server keeps no cursor). */
  get acknowledged(): Position {
    return this.acked;
  }

  async acknowledge(upTo: Position): Promise<void> {
    if (comparePositions(upTo, this.acked) > 0) this.acked = upTo;
  }

  [Symbol.asyncIterator](): AsyncIterator<ChangeLogItem> {
    if (this.started) throw new Error('A MySQL change log can be iterated once; open it again to restart.');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<ChangeLogItem> {
    const { opts, display } = this.c;
    const pollMs = heartbeatPollMs(opts);
    try {
      yield* reconnecting<BinlogSession, ChangeLogItem>(
        {
          open: async () => {
            const at = this.assembler.resumeFrom;
            this.session = await BinlogSession.start(this.c.params, {
              file: at.file,
              position: at.offset,
              serverId: this.c.serverId,
              heartbeatMs: pollMs,
            });
            return this.session;
          },
          read: (session, received) =>
            readSession(session, this.assembler, {
              pollMs,
              stopped: () => this.stopped,
              received,
              gap: (cause) => binlogGapError(this.admin, display, this.assembler.resumeFrom, cause),
            }),
          close: async (session) => {
            await session.close();
            if (this.session === session) this.session = undefined;
          },
          retryable,
          fatal: (err) => streamError(err, display),
        },
        {
          ...(opts.signal ? { signal: opts.signal } : {}),
          stopped: () => this.closed,
          ...(opts.onStatus ? { onStatus: opts.onStatus } : {}),
          what: `Binlog replication from ${display}`,
          resumesFrom: () => formatPosition(this.assembler.resumeFrom),
        },
      );
    } finally {
      this.markers.stop();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.markers.stop();
    await this.session?.close();
    await this.admin.end().catch(() => undefined);
  }
}
