import type { Finding } from './finding.js';
import type { Transaction } from './source-driver.js';

export interface LoadStats {
  readonly rows: number;
  readonly bytes: number;
}

export interface LoadOptions {
  readonly signal?: AbortSignal;
}

/** One table stream the core is going to load (`TargetDriver.planLoads`). */
export interface PlannedLoad {
  /** The name `load` will be called with, e.g. `public.contacts` or `public.contacts#2`. */
  readonly name: string;
  /** Its size in the snapshot: the bytes `load` will receive. */
  readonly bytes: number;
}

/** What `assertEmpty({ clean })` dropped, one entry per kind of object, e.g. `{ kind: 'table', names: ['public.a'] }`. */
export interface DroppedObjects {
  readonly kind: string;
  readonly names: readonly string[];
}

/**
 * The key of `SnapshotReader.meta` under which a driver records the identity of the snapshot's
 * source database (the same string `TargetDriver.identity` gives for that database), so that a
 * restore can refuse to overwrite the source (src/restore/target-safety.ts).
 */
export const SOURCE_IDENTITY_META = 'databaseId';

/**
 * Loads a snapshot into an empty database, then replays the log up to a point in time.
 *
 * Call order. The core (src/restore/restore-job.ts) calls, on one target, in this order:
 *  1. `preflight({ replay })`, when the driver has one: an `error` finding refuses the restore
 *     before anything is written;
 *  2. `assertEmpty({ clean, schema, schemaFormat })`;
 *  3. `createSchema(…, 'pre-data')`: what the data needs to load (tables, types, functions);
 *  4. `planLoads(streams)`, when the driver has one, exactly once, even when there is nothing to
 *     load: every stream the restore will load, in the order their loads will start;
 *  5. `load(…)` once per planned stream, in that order, up to `--jobs` at once (the parts
 *     `name#n` of a split table may load side by side); after a load fails, no other starts;
 *  6. `createSchema(…, 'post-data')`, after every load has returned: what would slow the loads
 *     or act on their rows (indexes, constraints, triggers, rules). A driver may run a table's
 *     share of it earlier, once that table is loaded, if nothing can act on rows loaded later;
 *  7. `warnings()`, when the driver has it;
 *  8. `apply(tx)` for each transaction part to replay, one at a time, in commit order, with
 *     nothing else running; only for a point-in-time restore (none for a snapshot alone);
 *     then, when the driver has it, `observeAfter(tx)` for the parts committed after the instant,
 *     in commit order, until it returns false or the stored log ends (never applied);
 *  9. `finish()`;
 *  10. `close()`, always, exactly once: also after a step threw or the restore was aborted, and
 *     then no other step follows. The core ignores its errors, so it must release everything
 *     it can even when one part of it fails.
 *
 * What a driver switches off. The snapshot holds every row as the source had it, and the log
 * every change the source made, including the ones its triggers, cascading foreign keys and rules
 * made: those arrive as changes of their own. So while the target loads and replays, the
 * database must not act on that data again: user triggers, foreign-key checks and actions
 * (ON DELETE CASCADE, SET NULL) and rules must not fire, or rows are changed twice, or a change
 * the source committed is refused.
 *  - PostgreSQL: `session_replication_role = replica` on every session that writes while any of
 *    them exists (they come with post-data, so there it is replay). That stops ordinary triggers
 *    (foreign-key triggers among them) and rules, but not those enabled ALWAYS, and it is what
 *    fires those enabled REPLICA: such triggers and rules must be disabled too.
 *  - MySQL/MariaDB: `foreign_key_checks = 0`; triggers cannot be switched off per session, so the
 *    target must hold none while it writes (create them after replay).
 *  - MongoDB: nothing to switch off (no triggers, no foreign keys).
 */
export interface TargetDriver {
  readonly kind: string;
  /**
   * Checks the target before anything is written (privileges the load and the replay need).
   * `replay` says whether log transactions will be applied. Optional: a driver without checks omits it.
   */
  preflight?(opts: { replay: boolean }): Promise<Finding[]>;
  /**
   * Refuses (SourceError) when the target holds user objects. With `clean`, drops the objects the
   * restore is about to create (those of `schema`, the snapshot's) and returns what it dropped;
   * when the target holds anything else, or dropping would take anything else with it, it refuses
   * before dropping anything and names those objects. A restore never drops what it does not
   * recreate.
   */
  assertEmpty(opts?: {
    clean?: boolean;
    schema?: Uint8Array;
    schemaFormat?: string;
  }): Promise<readonly DroppedObjects[] | void>;
  /**
   * What identifies the target database whatever URL reaches it (another host name, port or
   * address), equal to what the driver records in a snapshot's meta under `SOURCE_IDENTITY_META`
   * for its source; undefined when the server does not tell. The core refuses to restore onto
   * the snapshot's own source unless the user says so (`--overwrite-source`). Optional: without it
   * the core can compare addresses only, and says so.
   */
  identity?(): Promise<string | undefined>;
  createSchema(schema: Uint8Array, format: string, phase: 'pre-data' | 'post-data'): Promise<void>;
  /**
   * The streams the core is going to load, before the first load. A driver may schedule with it
   * (work that can follow a table's load, or wait for post-data, which has every session);
   * a driver without it must not assume anything about the loads to come.
   */
  planLoads?(streams: readonly PlannedLoad[]): void;
  load(name: string, format: string, data: AsyncIterable<Uint8Array>, opts?: LoadOptions): Promise<LoadStats>;
  /**
   * Applies one transaction part, in commit order. The parts of one transaction (`more`) go into
   * one database transaction that commits at the last part, so a transaction is applied whole or
   * not at all. `tables` restricts which tables it touches.
   */
  apply(tx: Transaction, opts?: { tables?: ReadonlySet<string> }): Promise<void>;
  /**
   * Reads, and must NOT apply, the transaction parts committed after the instant of a point-in-time
   * restore (`untilMicros`), in commit order, continuing where the replay stopped through the rest
   * of the stored log as far as it continues without a gap. For what only a later record can tell:
   * PostgreSQL records sequence values every few seconds, and a value sampled after the instant
   * bounds every value handed out before it. Returns whether it needs more; the core stops at the
   * first false or at the end of the stored log, and `finish` must then make do (and say so, in the
   * warnings it returns, when that leaves the restore different from the source). Optional.
   */
  observeAfter?(tx: Transaction, opts: { untilMicros: bigint }): Promise<boolean>;
  /** Things restored differently from the source that the user must hear of, after post-data. */
  warnings?(): readonly string[];
  /**
   * Final steps after replay: sequences, statistics. Returns what the user must hear of that only
   * the end of the restore knows (things that may differ from the source), if anything.
   */
  finish(): Promise<readonly string[] | void>;
  close(): Promise<void>;
}
