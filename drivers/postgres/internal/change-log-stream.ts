/**
 * The iterating half of the PostgreSQL change log (change-log.ts opens it): one replication
 * session at a time, reconnecting with backoff, turning pgoutput messages into Transaction parts
 * and Heartbeats, and reporting acknowledged positions as flushed.
 *
 * Why a Heartbeat at max(keepalive walEnd, last yielded) is true: the walsender sets walEnd to
 * `sentPtr`, the end of the last WAL record it decoded, and decodes a transaction completely (its
 * whole output written to the socket) when it reads the commit record, before moving sentPtr past
 * it. TCP keeps order, and we handle events strictly in arrival order, yielding each transaction
 * before looking at the next event. So when we handle a keepalive outside Begin..Commit, every
 * transaction whose commit record ends at or before walEnd has been yielded. We ping with
 * "reply requested" when idle, so keepalives come at least every heartbeatMs / 2.
 */
import type pg from 'pg';
import type {
  ChangeLog,
  ChangeLogItem,
  Position,
  StreamOptions,
  Transaction,
} from '../../../src/driver/source-driver.js';
import { SourceError } from '../../../src/util/errors.js';
import { connect, endClient, withDeadline, type PgEndpoint } from './connection.js';
import { fixReplicaIdentity, markInternal, SEQUENCES_MESSAGE_PREFIX } from './ddl-capture.js';
import { PartSpool, PayloadBuilder, type Relation } from './payload.js';
import { bigIntToLsn, decodePosition, encodePosition } from './position.js';
import { ReplicationDecodeError, ReplicationSession } from './replication.js';

export const PART_MAX_BYTES = 8 * 1024 * 1024;
export const PART_MAX_CHANGES = 10_000;
/**
 * Sequence values are recorded this often (when they changed): a restore to a time between two
 * records sets each sequence past the last record and past the values in the columns tied to it,
 * but a value handed out in an expression (`'INV-' || nextval(…)`) is known only from a record.
 */
const SEQUENCE_INTERVAL_MS = 2_000;
/** Tables without a usable replica identity are looked for every this many runs (10 s): each try
 * queues an ALTER TABLE behind the application's locks for up to its lock_timeout. */
const IDENTITY_EVERY_RUNS = 5;
/**
 * Longest a run of the admin connection's work may take (sequence values, replica identities,
 * markers, the last acknowledgement): past it the connection is taken for dead (a silent network
 * drop answers nothing, ever) and destroyed, so neither housekeeping nor shutdown waits forever.
 */
const ADMIN_DEADLINE_MS = 60_000;
const DEFAULT_MARKER_MS = 5_000;
/** Prefix of the idle marker messages; apply ignores prefixes it does not know. */
export const MARKER_MESSAGE_PREFIX = 'crmb.marker';
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
const LAG_REPORT_MS = 1_000;
const DEFAULT_HEARTBEAT_MS = 1_000;

export interface PgChangeLogNames {
  readonly slot: string;
  readonly publication: string;
}

interface OpenTx {
  readonly xid: number;
  readonly commitLsn: bigint;
  readonly commitTime: bigint;
  /** Already yielded before a reconnect: receive and drop. */
  readonly duplicate: boolean;
  builder: PayloadBuilder;
  part: number;
}

/**
 * Errors worth a reconnect: the connection went away or the server is (re)starting. Decided by
 * where an error came from and its code, never by its text:
 * - SQLSTATE 08 connection exception, 57 operator intervention (shutdown, starting up),
 *   53 resources, 55006 slot still held by the previous walsender, and socket errno codes (E...):
 *   retry; any other code (a missing slot or publication, a rejected login): fatal.
 * - Without a code: what the server sent could not be decoded (ReplicationDecodeError), or a
 *   SourceError of ours about the stream's content: fatal, since the same bytes come again;
 *   everything else arrived through the connection ("Connection terminated unexpectedly", a
 *   closed socket, a failed connect): retry.
 */
export function retryable(err: unknown): boolean {
  if (err === undefined) return true;
  if (err instanceof ReplicationDecodeError) return false;
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' && e.code !== 'SOURCE' ? e.code : e.cause?.code;
  if (typeof code !== 'string') return !(err instanceof SourceError && err.cause === undefined);
  return /^(08|57|53)/.test(code) || code === '55006' || /^E[A-Z]+$/.test(code);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]?.replace(/\.$/, '') ?? 'unknown error';
}

export class PgChangeLog implements ChangeLog {
  readonly from: Position;
  private acked: bigint;
  private lastYielded: bigint;
  private lastHeartbeat = 0n;
  private session: ReplicationSession | undefined;
  private closed = false;
  private started = false;
  private lastSequences = '';
  private lastLagReport = 0;
  private readonly relations = new Map<number, Relation>();
  private admin: pg.Client | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly markerTimer: NodeJS.Timeout;
  private lastCommitAt = Date.now();
  private markerInFlight = false;
  private housekeepingRun: Promise<void> | undefined;
  private housekeepingRuns = 0;
  private readonly onAbort = (): void => void this.session?.close();

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
    this.admin = c.admin;
    this.from = encodePosition(c.start);
    this.acked = c.start;
    this.lastYielded = c.start;
    this.timer = setInterval(() => void this.housekeeping(), SEQUENCE_INTERVAL_MS);
    this.timer.unref();
    const markerMs = c.opts.markerMs ?? DEFAULT_MARKER_MS;
    this.markerTimer = setInterval(() => void this.marker(markerMs), Math.max(50, Math.floor(markerMs / 2)));
    this.markerTimer.unref();
    c.opts.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  private get adminDeadlineMs(): number {
    return this.c.adminDeadlineMs ?? ADMIN_DEADLINE_MS;
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
    let failures = 0;
    try {
      await this.housekeeping();
      while (!this.stopped) {
        let error: unknown;
        let received = false;
        try {
          this.session = await ReplicationSession.start(target, {
            slot: names.slot,
            publication: names.publication,
            startLsn: this.acked,
            flushed: () => this.acked,
            ...(this.c.receiveTimeoutMs === undefined ? {} : { receiveTimeoutMs: this.c.receiveTimeoutMs }),
          });
          opts.onStatus?.({ event: 'connected', received: encodePosition(this.acked) });
          for await (const item of this.consume(this.session, () => (received = true))) {
            yield item;
          }
          error = this.endError;
        } catch (err) {
          error = err;
        } finally {
          await this.session?.close();
          this.session = undefined;
        }
        if (this.stopped) return;
        if (!retryable(error)) {
          throw error instanceof SourceError
            ? error
            : new SourceError(
                `PostgreSQL at ${target.display} stopped the replication stream of slot "${names.slot}": ${firstLine(error)}.`,
                {
                  cause: error,
                  source: target.display,
                },
              );
        }
        failures = received ? 1 : failures + 1;
        const wait = Math.min(BACKOFF_FIRST_MS * 2 ** (failures - 1), BACKOFF_MAX_MS);
        opts.onStatus?.({
          event: 'reconnecting',
          message: `Replication from ${target.display} interrupted (${firstLine(error ?? 'connection closed')}); reconnecting in ${wait / 1000} s.`,
        });
        await sleep(wait, opts.signal);
      }
    } finally {
      // The session is already released above. The owner still acknowledges its last stored
      // segment after iteration ends, and close() persists that; so only the timers stop here.
      clearInterval(this.timer);
      clearInterval(this.markerTimer);
    }
  }

  private endError: unknown;

  /** Yields what one session delivers; sets `endError` when the session ends. */
  private async *consume(session: ReplicationSession, onReceive: () => void): AsyncGenerator<ChangeLogItem> {
    const heartbeatMs = this.c.opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    const pingMs = Math.max(10, Math.floor(heartbeatMs / 2));
    const spool = new PartSpool();
    let tx: OpenTx | undefined;
    this.endError = undefined;
    try {
      for (;;) {
        const ev = await session.next(pingMs);
        if (this.stopped) return;
        if (!ev) {
          session.sendStatus(true); // the server answers with a keepalive carrying its position
          continue;
        }
        if (ev.kind === 'end') {
          this.endError = ev.error ?? new Error('the server ended replication');
          return;
        }
        onReceive();
        if (ev.kind === 'keepalive') {
          if (tx) continue; // mid-transaction: the coverage claim would be about an unfinished commit
          let pos = ev.walEnd > this.lastYielded ? ev.walEnd : this.lastYielded;
          if (pos < this.lastHeartbeat) pos = this.lastHeartbeat;
          this.lastHeartbeat = pos;
          this.reportLag(pos, 0, true);
          yield { kind: 'heartbeat', position: encodePosition(pos), serverTime: ev.serverTime };
          continue;
        }
        const m = ev.message;
        switch (m.tag) {
          case 'begin':
            await spool.clear();
            tx = {
              xid: m.xid,
              commitLsn: m.finalLsn,
              commitTime: m.commitTime,
              // positions are commit END LSNs; a commit starting before the last yielded end was yielded
              duplicate: m.finalLsn < this.lastYielded,
              builder: new PayloadBuilder(m.xid, 0, this.relations),
              part: 0,
            };
            break;
          case 'relation':
            this.relations.set(m.relationId, m);
            tx?.builder.invalidate(m.relationId);
            break;
          case 'type':
            tx?.builder.type(m.typeOid, m.namespace, m.name);
            break;
          case 'origin':
            break;
          case 'commit': {
            if (!tx) throw new SourceError('pgoutput sent Commit without Begin.');
            this.lastCommitAt = Date.now();
            const open = tx;
            tx = undefined;
            if (open.duplicate || m.endLsn <= this.lastYielded) break;
            await spool.add(this.partOf(open));
            const total = spool.count;
            let i = 0;
            for await (const p of spool.parts()) {
              i++;
              const item: Transaction = {
                position: encodePosition(m.endLsn),
                commitTime: open.commitTime,
                payload: p.payload,
                changes: p.changes,
                tables: p.tables,
                more: i < total,
              };
              yield item;
            }
            await spool.clear();
            this.lastYielded = m.endLsn;
            this.reportLag(m.endLsn, Number(ev.serverTime - open.commitTime) / 1e6, false);
            break;
          }
          default:
            // a non-transactional message of another application belongs to no transaction
            if (!tx) {
              if (m.tag === 'message' && !m.transactional) break;
              throw new SourceError(`pgoutput sent a ${m.tag} message outside a transaction.`);
            }
            if (tx.duplicate) break;
            tx.builder.add(m);
            if (tx.builder.bytes >= PART_MAX_BYTES || tx.builder.changes >= PART_MAX_CHANGES) {
              await spool.add(this.partOf(tx));
              tx.builder = new PayloadBuilder(tx.xid, ++tx.part, this.relations);
            }
        }
      }
    } catch (err) {
      // spool I/O keeps its errno code (ENOSPC: retried); anything else turning messages into
      // parts is a decoding bug that would repeat on the same bytes
      const errno = typeof (err as { code?: unknown }).code === 'string';
      this.endError = errno || err instanceof SourceError ? err : new ReplicationDecodeError(err);
    } finally {
      await spool.clear();
    }
  }

  private partOf(tx: OpenTx): { payload: Uint8Array; changes: number; tables: string[] } {
    return { payload: tx.builder.finish(), changes: tx.builder.changes, tables: [...tx.builder.tables] };
  }

  private reportLag(pos: bigint, lagSeconds: number, idle: boolean): void {
    const now = Date.now();
    if (!idle && now - this.lastLagReport < LAG_REPORT_MS) return;
    this.lastLagReport = now;
    this.c.opts.onStatus?.({
      received: encodePosition(pos),
      lagSeconds: Math.max(0, lagSeconds),
      ...(idle ? { event: 'caught-up' as const } : {}),
    });
  }

  /**
   * Every 2 s: record sequence values in the stream (a transactional `crmb.sequences` message in a
   * transaction of its own, only when they changed) and, every 10 s, give tables without a usable
   * replica identity REPLICA IDENTITY FULL (new keyless tables without DDL capture, a dropped identity index,
   * a table that was locked at start). One run at a time: a busy table makes a run slow.
   * The admin connection is re-opened after a failure (a server restart takes it down too).
   */
  private housekeeping(final = false): Promise<void> {
    if (this.closed && !final) return Promise.resolve();
    // the final run (sequence values at close) must not be skipped: it waits for a running one
    if (this.housekeepingRun)
      return final ? this.housekeepingRun.then(() => this.housekeeping(true)) : this.housekeepingRun;
    const run = this.housekeepingOnce(final).finally(() => (this.housekeepingRun = undefined));
    this.housekeepingRun = run;
    return run;
  }

  private async housekeepingOnce(final: boolean): Promise<void> {
    try {
      if (!this.admin) {
        this.admin = await connect(this.c.target);
        await markInternal(this.admin);
      }
      const admin = this.admin;
      const fixIdentity = !final && this.housekeepingRuns++ % IDENTITY_EVERY_RUNS === 0;
      const failures = await withDeadline(admin, this.adminDeadlineMs, async () => {
        const res = await admin.query<{ name: string; value: string }>(
          `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS value
             FROM pg_sequences WHERE last_value IS NOT NULL AND schemaname <> 'crmb' ORDER BY 1`,
        );
        const values = JSON.stringify(Object.fromEntries(res.rows.map((r) => [r.name, r.value])));
        if (res.rows.length && values !== this.lastSequences) {
          await admin.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [
            SEQUENCES_MESSAGE_PREFIX,
            values,
          ]);
          this.lastSequences = values;
        }
        // even with DDL capture: a dropped replica identity index is not seen by the trigger
        return fixIdentity ? await fixReplicaIdentity(admin, { attempts: 3 }) : [];
      });
      for (const f of failures) {
        this.c.opts.onStatus?.({
          message: `Table ${f.table} has no usable replica identity and could not be given REPLICA IDENTITY FULL (${f.reason}), so the application's UPDATE and DELETE on it fail: run ALTER TABLE ${f.table} REPLICA IDENTITY FULL (retrying every ${(SEQUENCE_INTERVAL_MS * IDENTITY_EVERY_RUNS) / 1000} s).`,
        });
      }
    } catch (err) {
      const dead = this.admin;
      this.admin = undefined;
      if (dead) await endClient(dead);
      this.c.opts.onStatus?.({
        message: `Recording sequence values${final ? ' at shutdown' : ''} failed: ${firstLine(err)}.`,
      });
    }
  }

  /**
   * Time coverage comes only from commit times (a heartbeat's clock proves nothing: the walsender
   * may not have decoded earlier commits yet). While the source is idle, a tiny transaction with a
   * `crmb.marker` message gives the log a fresh commit time, so restores up to "now" are provable.
   */
  private async marker(markerMs: number): Promise<void> {
    if (this.stopped || this.markerInFlight || Date.now() - this.lastCommitAt < markerMs || !this.admin)
      return;
    this.markerInFlight = true;
    try {
      const admin = this.admin;
      await withDeadline(admin, this.adminDeadlineMs, () =>
        admin.query(`SELECT pg_logical_emit_message(true, $1, '')`, [MARKER_MESSAGE_PREFIX]),
      );
      this.lastCommitAt = Date.now();
    } catch {
      // housekeeping() reopens a broken admin connection; the next tick tries again
    } finally {
      this.markerInFlight = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearInterval(this.markerTimer);
    this.c.opts.signal?.removeEventListener('abort', this.onAbort);
    await this.session?.close();
    await this.housekeeping(true);
    await this.persistAcknowledgement();
    if (this.admin) await endClient(this.admin);
    this.admin = undefined;
  }

  /**
   * On SIGINT/SIGTERM the replication session ends first, and the stream job acknowledges its
   * last segment only after storing it, when no session is left to carry the status update.
   * Move the slot there with pg_replication_slot_advance once the walsender has released it, so
   * the next run does not receive (and drop) what the repository already holds.
   */
  private async persistAcknowledgement(): Promise<void> {
    const admin = this.admin ?? (await connect(this.c.target).catch(() => undefined));
    if (!admin) return;
    this.admin = admin;
    await withDeadline(admin, this.adminDeadlineMs, () => this.advanceSlot(admin));
  }

  private async advanceSlot(admin: pg.Client): Promise<void> {
    const { slot } = this.c.names;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const r = await admin.query<{ behind: boolean; active: boolean }>(
          `SELECT confirmed_flush_lsn < $2::pg_lsn AS behind, active FROM pg_replication_slots WHERE slot_name = $1`,
          [slot, bigIntToLsn(this.acked)],
        );
        const row = r.rows[0];
        if (!row || !row.behind) return;
        if (!row.active) {
          await admin.query(`SELECT pg_replication_slot_advance($1, $2::pg_lsn)`, [
            slot,
            bigIntToLsn(this.acked),
          ]);
          return;
        }
      } catch (err) {
        // another stream took the slot over, or the server went away: the next run re-sends and drops duplicates
        this.c.opts.onStatus?.({
          message: `Could not record the last acknowledgement in slot "${slot}": ${firstLine(err)}.`,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
