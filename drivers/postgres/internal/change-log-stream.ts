/**
 * The iterating half of the PostgreSQL change log (change-log.ts opens it): one replication
 * session at a time, reconnecting with backoff (src/driver/reconnect.ts), each session's
 * pgoutput messages turned into Transaction parts and Heartbeats (change-log-session.ts,
 * transaction-assembly.ts), and acknowledged positions reported to the server as flushed. Beside
 * it, the admin connection (change-log-admin.ts) records sequence values and commits the idle
 * markers that src/driver/idle.ts times.
 */
import type pg from 'pg';
import { heartbeatPollMs, IdleMarkers } from '../../../src/driver/idle.js';
import { LagReporter } from '../../../src/driver/lag-report.js';
import { reconnecting } from '../../../src/driver/reconnect.js';
import type { ChangeLog, ChangeLogItem, Position, StreamOptions } from '../../../src/driver/source-driver.js';
import { ChangeLogAdmin } from './change-log-admin.js';
import { readSession, retryable, streamError } from './change-log-session.js';
import type { PgEndpoint } from './connection.js';
import { decodePosition, encodePosition } from './position.js';
import { ReplicationSession } from './replication.js';
import { TransactionAssembler } from './transaction-assembly.js';

export interface PgChangeLogNames {
  readonly slot: string;
  readonly publication: string;
}

export class PgChangeLog implements ChangeLog {
  readonly from: Position;
  private acked: bigint;
  private session: ReplicationSession | undefined;
  private closed = false;
  private started = false;
  private readonly admin: ChangeLogAdmin;
  private readonly markers: IdleMarkers;
  private readonly assembler: TransactionAssembler;

  constructor(
    private readonly c: {
      target: PgEndpoint;
      names: PgChangeLogNames;
      admin: pg.Client;
      opts: StreamOptions;
      start: bigint;
      ddlCapture: boolean;
      /** Replication session receive timeout (default RECEIVE_TIMEOUT_MS); tests shorten it. */
      receiveTimeoutMs?: number;
      /** ADMIN_DEADLINE_MS unless given; tests shorten it. */
      adminDeadlineMs?: number;
    },
  ) {
    const { opts } = c;
    this.from = encodePosition(c.start);
    this.acked = c.start;
    this.admin = new ChangeLogAdmin({
      target: c.target,
      slot: c.names.slot,
      client: c.admin,
      onStatus: opts.onStatus,
      ...(c.adminDeadlineMs === undefined ? {} : { deadlineMs: c.adminDeadlineMs }),
    });
    this.markers = new IdleMarkers({
      ...(opts.markerMs === undefined ? {} : { markerMs: opts.markerMs }),
      emit: () => (this.stopped ? Promise.resolve(false) : this.admin.marker()),
    });
    this.assembler = new TransactionAssembler(c.start, {
      lag: new LagReporter(opts.onStatus),
      commit: () => this.markers.committed(),
    });
  }

  private get stopped(): boolean {
    return this.closed || this.c.opts.signal?.aborted === true;
  }

  async acknowledge(upTo: Position): Promise<void> {
    const v = decodePosition(upTo);
    if (v <= this.acked) return;
    this.acked = v;
    this.session?.sendStatus(false);
  }

  [Symbol.asyncIterator](): AsyncIterator<ChangeLogItem> {
    if (this.started)
      throw new Error('A PostgreSQL change log can be iterated once; open it again to restart.');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<ChangeLogItem> {
    const { target, names, opts } = this.c;
    const pollMs = heartbeatPollMs(opts);
    try {
      await this.admin.housekeeping();
      yield* reconnecting<ReplicationSession, ChangeLogItem>(
        {
          open: async () =>
            (this.session = await ReplicationSession.start(target, {
              slot: names.slot,
              publication: names.publication,
              startLsn: this.acked,
              flushed: () => this.acked,
              ...(this.c.receiveTimeoutMs === undefined ? {} : { receiveTimeoutMs: this.c.receiveTimeoutMs }),
            })),
          read: (session, received) =>
            readSession(session, this.assembler, { pollMs, stopped: () => this.stopped, received }),
          close: async (session) => {
            await session.close();
            if (this.session === session) this.session = undefined;
          },
          retryable,
          fatal: (err) => streamError(err, target, names.slot),
        },
        {
          ...(opts.signal ? { signal: opts.signal } : {}),
          stopped: () => this.closed,
          ...(opts.onStatus ? { onStatus: opts.onStatus } : {}),
          what: `Replication from ${target.display}`,
          resumesFrom: () => encodePosition(this.acked),
        },
      );
    } finally {
      // The session is already released. The owner still acknowledges its last stored segment
      // after iteration ends, and close() persists that; so only the timers stop here.
      this.markers.stop();
      this.admin.stop();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.markers.stop();
    this.admin.stop();
    await this.session?.close();
    await this.admin.close(() => this.acked);
  }
}
