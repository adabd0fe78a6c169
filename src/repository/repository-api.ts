/**
 * The repository as the engines (backup, restore, cli) see it. Implemented in this folder;
 * the engines import only these types and the functions exported from `./index.ts`.
 * Everything stored is compressed and encrypted; ids are keyed hashes of plaintext.
 */

/** A byte stream stored as content-defined chunks. Plaintext size and chunk ids in order. */
export interface StreamRef {
  readonly chunks: readonly string[];
  /** Plaintext length of each chunk, same order as `chunks`. */
  readonly sizes: readonly number[];
  readonly bytes: number;
}

export interface StoredTableStream {
  readonly name: string;
  readonly table: string;
  readonly format: string;
  readonly rows?: number;
  readonly data: StreamRef;
  /**
   * The rows of this stream as the driver dumped them: their count and the sum mod 2^128 of a
   * 128-bit hash of each (src/backup/row-checksum.ts), for `drill` to compare a restore with.
   * The parts of a split table add up. Absent in snapshots older than format 1.2, and for
   * streams whose units are not rows of a table.
   */
  readonly checksum?: { readonly rows: number; readonly sum: string };
}

export interface SnapshotManifest {
  /** Assigned by the repository at commit (hex). */
  readonly id: string;
  readonly source: string;
  readonly driver: string;
  readonly driverFormatVersion: number;
  readonly tags: readonly string[];
  readonly position: string;
  /** ISO 8601 UTC with microseconds, and the same instant as µs since epoch (decimal string). */
  readonly consistentAt: string;
  readonly consistentAtMicros: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly schemaFormat: string;
  readonly schema: StreamRef;
  readonly streams: readonly StoredTableStream[];
  readonly meta: Readonly<Record<string, string | number | boolean>>;
  /** Redacted source URL (no password), for humans. */
  readonly sourceUrl: string;
  /**
   * Present on a partial snapshot: the filter it was taken with (`snapshot --tables`, `--schemas`),
   * the names as the user gave them, which only the driver reads. Such a snapshot never stands in
   * for the whole database. Absent: the whole database (also in manifests older than the field).
   */
  readonly filter?: SnapshotFilter;
  /** Present on a copy (`crm-backup copy`): where the manifest was first committed. */
  readonly origin?: ManifestOrigin;
}

/**
 * The repository (its config id) and the manifest id a copied manifest was first committed as.
 * A copy of a copy keeps the first origin, so a manifest is recognised in any repository it
 * reached, by any path (A to B to C and A to C; B back to A).
 */
export interface ManifestOrigin {
  readonly repository: string;
  readonly id: string;
}

/** What a partial snapshot was asked to hold; at least one of the lists is non-empty. */
export interface SnapshotFilter {
  readonly tables?: readonly string[];
  readonly schemas?: readonly string[];
}

export interface SegmentManifest {
  readonly id: string;
  readonly source: string;
  readonly driver: string;
  readonly driverFormatVersion: number;
  /** The position this segment continues from (exclusive): the previous segment's `lastPosition` or a snapshot position. */
  readonly fromPosition: string;
  readonly firstPosition: string;
  readonly lastPosition: string;
  /** Commit times (µs since epoch, decimal string) of the first and last transaction ('0' when none). */
  readonly firstCommitMicros: string;
  readonly lastCommitMicros: string;
  /**
   * Every instant at or before this one (µs) is determined by the log up to this segment: the
   * segment holds a commit with a later commit time, and restore replays the prefix of the commit
   * order before the first commit after the target (as PostgreSQL's recovery_target_time does).
   * It is the newest commit time in the segment minus one microsecond, never taken from a clock;
   * -1 when the segment holds no transaction.
   */
  readonly coveredUntilMicros: string;
  readonly transactions: number;
  readonly changes: number;
  /** Tables touched by any transaction in the segment. */
  readonly tables: readonly string[];
  readonly data: StreamRef;
  readonly createdAt: string;
  /** Present on a copy: where the manifest was first committed (see SnapshotManifest.origin). */
  readonly origin?: ManifestOrigin;
}

/**
 * The outcome of a restore drill (`crm-backup drill`): a restore into a scratch database, checked
 * against the snapshot's checksums. A record of what happened, referencing no chunk: forget and
 * prune leave it alone.
 */
export interface DrillRecord {
  /** Assigned by the repository (hex). */
  readonly id: string;
  readonly source: string;
  readonly driver: string;
  /** The snapshot restored. */
  readonly snapshot: string;
  /** The instant the log was replayed to (ISO 8601 UTC, µs); absent when the snapshot alone was restored. */
  readonly at?: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The measured recovery time: how long the restore took (seconds), checks not included. */
  readonly seconds: number;
  /** Bytes and rows loaded, tables (streams) restored. */
  readonly bytes: number;
  readonly rows: number;
  readonly tables: number;
  /** Tables whose content was compared exactly with the snapshot's checksums. */
  readonly tablesCompared: number;
  /** Tables restored but not compared, each with why (`public.deals: changed by the log`). */
  readonly notCompared: readonly string[];
  readonly verdict: 'passed' | 'failed';
  /** When failed: one sentence naming the table and what was expected and found. */
  readonly failure?: string;
  /** The server drilled on (redacted URL). */
  readonly target: string;
}

export type NewSnapshot = Omit<SnapshotManifest, 'id'>;
export type NewDrill = Omit<DrillRecord, 'id'>;
export type NewSegment = Omit<SegmentManifest, 'id'>;

export interface WriteStreamOptions {
  readonly signal?: AbortSignal;
  /** Called with plaintext bytes consumed so far. */
  readonly onProgress?: (bytes: number) => void;
}

export interface RepositoryLock {
  /** Fires when the lock could not be refreshed: the holder must stop, not continue unprotected. */
  readonly signal: AbortSignal;
  /**
   * Before an irreversible step (a commit, a deletion): throws, and aborts the signal, when this
   * process went so long without refreshing the lock (paused, suspended, stalled) that another
   * may have judged it stale, unless the lock is still there and nothing conflicting came in.
   */
  confirm(): Promise<void>;
  /**
   * Readers (restore, verify): keeps the chunks of these streams from a prune running beside this
   * process for as long as the lock is held, even if forget removes their manifests meanwhile.
   * Call it once the streams to read are chosen, before reading; throws when a prune already
   * deleted some of them (the command should then start again).
   */
  hold(refs: readonly StreamRef[], opts?: { signal?: AbortSignal }): Promise<void>;
  release(): Promise<void>;
}

export interface Repository {
  readonly location: string;
  /** The random id in the repository's config (32 hex characters); copies record it as their origin. */
  readonly id: string;
  /** Stores a stream of any size with memory bounded by configuration; many may run concurrently. */
  writeStream(data: AsyncIterable<Uint8Array>, opts?: WriteStreamOptions): Promise<StreamRef>;
  /** Reads a stream back, authenticated chunk by chunk; throws IntegrityError naming the chunk. */
  readStream(ref: StreamRef, opts?: { signal?: AbortSignal; context?: string }): AsyncIterable<Uint8Array>;
  /** Writes the manifest last: this is the commit. Returns the id. */
  commitSnapshot(m: NewSnapshot): Promise<string>;
  commitSegment(m: NewSegment): Promise<string>;
  listSnapshots(filter?: { source?: string }): Promise<SnapshotManifest[]>;
  /** Segments of one source in the order they were stored; order them by position with the driver's `comparePositions`. */
  listSegments(source: string): Promise<SegmentManifest[]>;
  /** Records a drill's outcome (drills/ in format 1.2); returns its id. */
  commitDrill(d: NewDrill): Promise<string>;
  /** Recorded drills, oldest first (by startedAt). */
  listDrills(filter?: { source?: string }): Promise<DrillRecord[]>;
  sources(): Promise<string[]>;
  lock(
    mode: 'shared' | 'exclusive',
    opts?: {
      signal?: AbortSignal;
      purpose?: string;
      /** A stream's lock says which source it stores and how often, for restore --wait. */
      stream?: { readonly source: string; readonly segmentSeconds: number };
    },
  ): Promise<RepositoryLock>;
  close(): Promise<void>;
}
