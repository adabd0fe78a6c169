/**
 * The change log's second connection, an ordinary one beside the replication session, for what
 * the stream itself cannot do: record sequence values and fix replica identities every few
 * seconds (housekeeping), commit idle markers, and at close move the slot to the last
 * acknowledgement. It is re-opened after a failure (a server restart takes it down too), and
 * every run of work on it has a deadline, past which the connection is taken for dead (a silent
 * network drop answers nothing, ever) and destroyed, so neither housekeeping nor shutdown waits
 * forever.
 */
import type pg from 'pg';
import { firstLine } from '../../../src/driver/reconnect.js';
import type { StreamOptions } from '../../../src/driver/source-driver.js';
import { connect, endClient, withDeadline, type PgEndpoint } from './connection.js';
import {
  fixReplicaIdentity,
  identityFixedLine,
  markInternal,
  SEQUENCES_MESSAGE_PREFIX,
} from './ddl-capture.js';
import { addedLine, addNewTables } from './publication.js';
import { bigIntToLsn } from './position.js';
import { sequenceRecordText } from './sequences.js';

/**
 * Sequence values are recorded this often, with the instant they were read: all of them when one
 * changed, else a record that nothing did. A restore to a time between two records sets each
 * sequence past the first record read after that time (sequences only go forward), past the
 * records before it and past the values in the columns tied to it (sequences.ts).
 */
const SEQUENCE_INTERVAL_MS = 2_000;
/** Tables without a usable replica identity are looked for every this many runs (10 s): each try
 * queues an ALTER TABLE behind the application's locks for up to its lock_timeout. */
const IDENTITY_EVERY_RUNS = 5;
/** Longest a run of work on the admin connection may take (see above). */
const ADMIN_DEADLINE_MS = 60_000;
/** Prefix of the idle marker messages; apply ignores prefixes it does not know. */
export const MARKER_MESSAGE_PREFIX = 'crmb.marker';

export class ChangeLogAdmin {
  private client: pg.Client | undefined;
  /** No more runs but the final one (close). */
  private stopped = false;
  private closed = false;
  private lastSequences = '';
  private running: Promise<void> | undefined;
  private runs = 0;
  /** Tables that could not be added to the publication, and how often in a row (reported sparingly). */
  private readonly addFailures = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly c: {
      readonly target: PgEndpoint;
      readonly slot: string;
      /** The stream's publication; change-log.ts names it as the slot, the default here. */
      readonly publication?: string;
      readonly client: pg.Client;
      readonly onStatus: StreamOptions['onStatus'];
      /** ADMIN_DEADLINE_MS unless given; tests shorten it. */
      readonly deadlineMs?: number;
    },
  ) {
    this.client = c.client;
    this.timer = setInterval(() => void this.housekeeping(), SEQUENCE_INTERVAL_MS);
    this.timer.unref();
  }

  private get deadlineMs(): number {
    return this.c.deadlineMs ?? ADMIN_DEADLINE_MS;
  }

  /** No more housekeeping runs or markers, except the final run of close(): iteration ended. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  /**
   * Every 2 s: record sequence values in the stream (a transactional `crmb.sequences` message in a
   * transaction of its own: every value when one changed, else only the instant of reading) and, every 10 s, give tables without a usable
   * replica identity REPLICA IDENTITY FULL (new keyless tables without DDL capture, a dropped
   * identity index, a table that was locked at start). One run at a time: a busy table makes a
   * run slow.
   */
  housekeeping(final = false): Promise<void> {
    if (this.stopped && !final) return Promise.resolve();
    // the final run (sequence values at close) must not be skipped: it waits for a running one
    if (this.running) return final ? this.running.then(() => this.housekeeping(true)) : this.running;
    const run = this.housekeepingOnce(final).finally(() => (this.running = undefined));
    this.running = run;
    return run;
  }

  private async housekeepingOnce(final: boolean): Promise<void> {
    try {
      if (!this.client) {
        this.client = await connect(this.c.target);
        await markInternal(this.client);
      }
      const admin = this.client;
      const fixIdentity = !final && this.runs++ % IDENTITY_EVERY_RUNS === 0;
      const failures = await withDeadline(admin, this.deadlineMs, async () => {
        // the clock first: every value read after it is at least what it was at that instant
        const clock = await admin.query<{ us: string }>(
          `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us`,
        );
        const sampled = clock.rows[0]?.us ?? '0';
        const res = await admin.query<{ name: string; value: string }>(
          `SELECT format('%I.%I', schemaname, sequencename) AS name, last_value::text AS value
             FROM pg_sequences WHERE last_value IS NOT NULL AND schemaname <> 'crmb' ORDER BY 1`,
        );
        const values = Object.fromEntries(res.rows.map((r) => [r.name, r.value]));
        const text = JSON.stringify(values);
        // every value when one changed; else (after one such record) that nothing did: either
        // way a record sampled after any instant follows it within a run (sequences.ts)
        const changed = res.rows.length > 0 && text !== this.lastSequences;
        if (changed || (this.lastSequences !== '' && !final)) {
          await admin.query(`SELECT pg_logical_emit_message(true, $1, $2)`, [
            SEQUENCES_MESSAGE_PREFIX,
            sequenceRecordText(changed ? values : {}, sampled),
          ]);
          if (changed) this.lastSequences = text;
        }
        // even with DDL capture: a dropped replica identity index is not seen by the trigger
        const identity = fixIdentity ? await fixReplicaIdentity(admin, { attempts: 3 }) : undefined;
        for (const line of [...(identity?.created ?? []), ...(identity?.fixed ?? []).map(identityFixedLine)])
          this.c.onStatus?.({ message: line });
        // a listed publication (role not superuser) takes new tables in at every run: each second
        // a new table waits is a second in which its rows would miss the log
        if (!final) await this.addTables(admin);
        return identity?.failed ?? [];
      });
      for (const f of failures) {
        this.c.onStatus?.({
          message: `Table ${f.table} has no usable replica identity and could not be given REPLICA IDENTITY FULL (${f.reason}), so the application's UPDATE and DELETE on it fail: run ALTER TABLE ${f.table} REPLICA IDENTITY FULL (retrying every ${(SEQUENCE_INTERVAL_MS * IDENTITY_EVERY_RUNS) / 1000} s).`,
        });
      }
    } catch (err) {
      const dead = this.client;
      this.client = undefined;
      if (dead) await endClient(dead);
      this.c.onStatus?.({
        message: `Recording sequence values${final ? ' at shutdown' : ''} failed: ${firstLine(err)}.`,
      });
    }
  }

  /** Adds new tables to a listed publication (publication.ts); says what it added, or could not. */
  private async addTables(admin: pg.Client): Promise<void> {
    const publication = this.c.publication ?? this.c.slot;
    const { added, failed } = await addNewTables(admin, publication);
    for (const a of added) {
      this.addFailures.delete(a.table);
      for (const f of a.fixed) this.c.onStatus?.({ message: identityFixedLine(f) });
      this.c.onStatus?.({ message: addedLine(publication, a) });
    }
    for (const f of failed) {
      const n = (this.addFailures.get(f.table) ?? 0) + 1;
      this.addFailures.set(f.table, n);
      // a lock wait is tried again at the next run, and reported when it keeps failing
      if (f.code === '55P03' ? n % IDENTITY_EVERY_RUNS !== 0 : n > 1) continue;
      this.c.onStatus?.({
        message: `Table ${f.table} is not in publication ${publication} yet, so its changes are not in the log: adding it failed (${f.reason}); it is tried again every ${SEQUENCE_INTERVAL_MS / 1000} s${f.code === '55P03' ? '' : ", and needs the stream's role to have its owner's rights (GRANT <owner> TO <role>)"}.`,
      });
    }
  }

  /**
   * Commits an idle marker (a `crmb.marker` message in a transaction of its own); false while the
   * connection is down (housekeeping re-opens it).
   */
  async marker(): Promise<boolean> {
    const admin = this.client;
    if (this.stopped || !admin) return false;
    await withDeadline(admin, this.deadlineMs, () =>
      admin.query(`SELECT pg_logical_emit_message(true, $1, '')`, [MARKER_MESSAGE_PREFIX]),
    );
    return true;
  }

  /**
   * At close, after the replication session ended: a last record of sequence values, the slot
   * moved to the last acknowledgement, and the connection ended. `acked()` is read as late as
   * possible.
   */
  async close(acked: () => bigint): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop();
    await this.housekeeping(true);
    await this.persistAcknowledgement(acked);
    if (this.client) await endClient(this.client);
    this.client = undefined;
  }

  /**
   * On SIGINT/SIGTERM the replication session ends first, and the stream job acknowledges its
   * last segment only after storing it, when no session is left to carry the status update.
   * Move the slot there with pg_replication_slot_advance once the walsender has released it, so
   * the next run does not receive (and drop) what the repository already holds.
   */
  private async persistAcknowledgement(acked: () => bigint): Promise<void> {
    const admin = this.client ?? (await connect(this.c.target).catch(() => undefined));
    if (!admin) return;
    this.client = admin;
    await withDeadline(admin, this.deadlineMs, () => this.advanceSlot(admin, acked));
  }

  private async advanceSlot(admin: pg.Client, acked: () => bigint): Promise<void> {
    const { slot } = this.c;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        const r = await admin.query<{ behind: boolean; active: boolean }>(
          `SELECT confirmed_flush_lsn < $2::pg_lsn AS behind, active FROM pg_replication_slots WHERE slot_name = $1`,
          [slot, bigIntToLsn(acked())],
        );
        const row = r.rows[0];
        if (!row || !row.behind) return;
        if (!row.active) {
          await admin.query(`SELECT pg_replication_slot_advance($1, $2::pg_lsn)`, [
            slot,
            bigIntToLsn(acked()),
          ]);
          return;
        }
      } catch (err) {
        // another stream took the slot over, or the server went away: the next run re-sends and drops duplicates
        this.c.onStatus?.({
          message: `Could not record the last acknowledgement in slot "${slot}": ${firstLine(err)}.`,
        });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
