import type { RowChecksum } from './row-sum.js';
import type { Finding, Need } from './finding.js';

/** Driver-encoded position in the change log, totally ordered by `DriverModule.comparePositions`. */
export type Position = string;

export interface SnapshotOptions {
  /** Parallel worker connections reading tables (all see the same consistent state). */
  readonly jobs: number;
  /**
   * Only these schemas / tables, when given, as the user typed them: the driver reads them
   * (`DriverModule.tableNames`; PostgreSQL `schema.table` or `table`, MySQL `database.table`, a
   * MongoDB collection name whole). `schemas` means something only where tables live in schemas.
   */
  readonly schemas?: readonly string[];
  readonly tables?: readonly string[];
  /** Include ownership and grants in the schema. */
  readonly withPrivileges?: boolean;
  /** Stops the snapshot: reading ends and the driver releases what it holds on the server. */
  readonly signal?: AbortSignal;
}

export interface TableStream {
  /** Name as the driver understands it when loading, e.g. `public.contacts` or `public.contacts#2` for a split. */
  readonly name: string;
  /** Driver-native bulk format id with version, e.g. `pg-copy-text/1`. */
  readonly format: string;
  /** The table this stream belongs to (several streams may share one table when it is split). */
  readonly table: string;
  readonly data: AsyncIterable<Uint8Array>;
  /** Filled in by the driver after `data` is exhausted, when it knows. */
  rows?: number;
  /**
   * Present when the driver hashes every row as it produces it (the rows' bytes in its format, as
   * `DriverModule.rowFraming` would find them): called once `data` is exhausted, it gives the
   * checksum the core would otherwise compute by finding the rows in `data` again.
   */
  readonly rowChecksum?: () => RowChecksum;
}

export interface SnapshotReader {
  /**
   * The change-log position the snapshot is consistent with; fixed before any data is read. A
   * driver that makes a snapshot consistent by recording the changes made while it is read
   * (MongoDB: the `$changes` tail) learns its position only when its streams are exhausted; it
   * may then move `position`, `consistentAt` and `consistentAtMicros` forward until then. The
   * snapshot job reads all three when it commits the manifest, after the last stream.
   */
  readonly position: Position;
  readonly consistentAt: Date;
  /**
   * The same instant in µs (server clock, UTC), read after the position was fixed, so every
   * transaction in the snapshot committed before it. Without it the core rounds consistentAt up.
   */
  readonly consistentAtMicros?: bigint;
  /** Driver-native schema description, opaque to the core. */
  readonly schema: Uint8Array;
  /** Format id of `schema`, e.g. `pg-schema/1`. */
  readonly schemaFormat: string;
  /**
   * Small driver facts worth keeping with the snapshot (server version, database name). No secrets.
   * The source database's identity goes under `SOURCE_IDENTITY_META` (target-driver.ts).
   */
  readonly meta: Readonly<Record<string, string | number | boolean>>;
  /**
   * The entries of `SnapshotOptions.tables` and `.schemas` that select at least one table this
   * snapshot streams (after both filters), each exactly as given; empty lists without a filter.
   * Known before any data is read: the snapshot job refuses a name that selects nothing (a typo
   * in a nightly job must not store an empty or partial backup quietly).
   */
  readonly matched: { readonly tables: readonly string[]; readonly schemas: readonly string[] };
  /** Table streams; consumers may pull up to `jobs` of them concurrently. */
  streams(): AsyncIterable<TableStream>;
  close(): Promise<void>;
}

export interface Transaction {
  readonly position: Position;
  /** Commit time, server clock, microseconds since the Unix epoch, UTC. */
  readonly commitTime: bigint;
  /** Driver-native encoding of the transaction's changes; opaque to the core. */
  readonly payload: Uint8Array;
  /** Number of row changes, for progress and statistics. */
  readonly changes: number;
  /** Tables touched, for `--tables` filtering at restore without decoding the payload. */
  readonly tables?: readonly string[];
  /**
   * Large transactions arrive in parts of bounded size, all with the same position and
   * commitTime; `more` is true on every part but the last. A target applies all parts in one
   * database transaction and commits at the last, so memory never holds a whole transaction.
   */
  readonly more?: boolean;
  /**
   * The transaction changes a table's definition (DDL) in a way `tables` does not name (PostgreSQL
   * captures DDL as a message that names no table). A restore drill then compares no table after
   * it. Optional: absent means no such change.
   */
  readonly schemaChange?: boolean;
}

/**
 * "Every transaction with a position at or before `position` has been yielded." Lets an idle log
 * advance its acknowledged position so the server can discard what it retains.
 *
 * It says nothing about TIME: the server may not have decoded commits that happened before
 * `serverTime` yet. Time coverage comes only from commit times (see SegmentManifest
 * coveredUntilMicros); an idle source proves it with small marker transactions (a driver emits one
 * at least every `StreamOptions.markerMs` while idle).
 */
export interface Heartbeat {
  readonly kind: 'heartbeat';
  readonly position: Position;
  /** The server's clock when it sent this (µs UTC); for lag reporting only. */
  readonly serverTime: bigint;
}

export type ChangeLogItem = Transaction | Heartbeat;

export function isHeartbeat(item: ChangeLogItem): item is Heartbeat {
  return (item as Heartbeat).kind === 'heartbeat';
}

export interface StreamOptions {
  readonly signal?: AbortSignal;
  /** The driver yields a Heartbeat at least this often while the source is idle (default 1000). */
  readonly heartbeatMs?: number;
  /**
   * While no transaction has committed for this long, the driver commits a marker transaction on
   * the source (default 5000), so that the log keeps proving time coverage on an idle database.
   */
  readonly markerMs?: number;
  /** Called with observations for progress and lag reporting. */
  readonly onStatus?: (status: ChangeLogStatus) => void;
}

export interface ChangeLogStatus {
  /** Position last received from the server. */
  readonly received?: Position;
  /** Seconds between the newest commit seen and now, by the server's clock where known. */
  readonly lagSeconds?: number;
  readonly event?: 'connected' | 'reconnecting' | 'caught-up';
  readonly message?: string;
}

/**
 * Committed transactions in commit order, interleaved with heartbeats. Iteration ends when the
 * signal fires or the log is closed, and throws when the driver cannot go on (after the retries
 * it makes itself). Positions at or before `from` are never yielded.
 */
export interface ChangeLog extends AsyncIterable<ChangeLogItem> {
  /**
   * The position this log really continues from (exclusive): the requested `from`, or, when the
   * server cannot go back that far or the log is new, where the server-side state starts (e.g. the
   * slot's consistent point or confirmed_flush_lsn, whichever is later). The repository records it
   * so that a gap between a snapshot or an earlier segment and this log is visible to restore.
   */
  readonly from: Position;
  /** Tells the database it may discard everything up to `upTo`; call only after it is durable. */
  acknowledge(upTo: Position): Promise<void>;
  close(): Promise<void>;
}

export interface PreflightOptions {
  readonly signal?: AbortSignal;
  /**
   * The last position the repository stores for this source's log, when the caller knows it
   * (`doctor` with a repository): a driver may compare it with what the server still retains
   * (MongoDB: the oplog's oldest entry) and say how long a stopped stream can still resume.
   */
  readonly storedPosition?: Position;
}

export interface SourceDriver {
  readonly kind: string;
  /**
   * Every setting, privilege and object that would make `need` fail or silently miss data, as
   * findings (finding.ts). The snapshot and stream jobs refuse on an `error`; doctor prints them.
   */
  preflight(need: Need, opts?: PreflightOptions): Promise<Finding[]>;
  /** Position fixed before any data is read. */
  openSnapshot(opts: SnapshotOptions): Promise<SnapshotReader>;
  /**
   * The change log after `from` (exclusive; undefined when nothing is stored yet), creating the
   * server-side state it needs when missing (PostgreSQL: slot and publication). Where it really
   * continues from is `ChangeLog.from`.
   */
  openChangeLog(from: Position | undefined, opts: StreamOptions): Promise<ChangeLog>;
  /**
   * Removes server-side state for streaming (slot, publication) and undoes what the stream changed
   * on the source; returns one line per thing removed or put back, for the user.
   */
  dropChangeLog?(): Promise<readonly string[] | void>;
  close(): Promise<void>;
}
