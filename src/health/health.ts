/**
 * What `crm-backup check` reads from a repository, per source: the newest full snapshot, the
 * streams whose lock is live, the stored log and the newest instant it lets a restore reach (the
 * recovery point right now), the restorable windows and the gaps. Facts only, for every driver
 * alike (positions are ordered by the driver that wrote them); checks.ts judges them.
 */
import { driverOfSource } from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import {
  repositoryBytes,
  type DrillRecord,
  type Repository,
  type SnapshotManifest,
} from '../repository/index.js';
import { runningStreams, type RunningStream } from '../repository/stream-locks.js';
import { isPartialSnapshot } from '../repository/retention.js';
import { logGaps, type LogGap } from '../restore/chain.js';
import { storedUntil } from '../restore/log-wait.js';
import { restoreWindows, type RestoreWindow } from '../restore/windows.js';

export interface SourceHealth {
  readonly source: string;
  /** The driver that wrote the source's backups. */
  readonly driver: string;
  /** The newest full snapshot (a partial one never stands in for the database). */
  readonly newestSnapshot?: Pick<SnapshotManifest, 'id' | 'consistentAt' | 'sourceUrl' | 'tags'> & {
    readonly consistentAtMicros: bigint;
  };
  /** Snapshots stored, partial ones included. */
  readonly snapshots: number;
  /** The stored log; undefined when the source has none (snapshots only). */
  readonly log?: {
    readonly segments: number;
    /** Plaintext bytes of the stored segments. */
    readonly bytes: number;
    /** Every commit at or before this instant (µs) is stored; -1 when the log holds no commit. */
    readonly storedUntilMicros: bigint;
    /** When the newest segment was stored (its manifest's createdAt). */
    readonly newestSegmentAt: string;
  };
  /** Streams of the source whose repository lock is live (refreshed within the stale age). */
  readonly streams: readonly RunningStream[];
  /** The windows a restore --at can reach (from full snapshots), oldest first. */
  readonly restorable: readonly RestoreWindow[];
  /**
   * The newest instant a restore can reach right now (µs): the end of the newest window, or the
   * newest full snapshot when it is newer; undefined without a full snapshot.
   */
  readonly recoveryPointMicros?: bigint;
  /** Gaps of the log after the newest full snapshot: no instant after the first can be restored until a new snapshot. */
  readonly openGaps: readonly LogGap[];
  /** Gaps before the newest full snapshot: later snapshots bridge them; the windows show the holes they leave. */
  readonly earlierGaps: number;
  /** The newest drill recorded for the source (`crm-backup drill`), if any. */
  readonly lastDrill?: DrillRecord;
}

export interface RepositoryHealth {
  readonly location: string;
  /** When the facts were read (µs since the epoch, this machine's clock). */
  readonly checkedAtMicros: bigint;
  /** Bytes of every object in the repository's store. */
  readonly bytes: number;
  readonly sources: readonly SourceHealth[];
  /** The sources asked for (`--name`) that the repository does not hold. */
  readonly missing: readonly string[];
  /** Every source the repository holds (also those not asked for). */
  readonly held: readonly string[];
}

export interface HealthOptions {
  /** Only these sources; default every source of the repository. */
  readonly names?: readonly string[];
  readonly drivers?: Drivers;
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
}

export async function readHealth(repo: Repository, opts: HealthOptions = {}): Promise<RepositoryHealth> {
  const now = (opts.now ?? (() => new Date()))();
  const held = await repo.sources();
  const names = opts.names?.length ? opts.names : held;
  const sources: SourceHealth[] = [];
  for (const source of names.filter((n) => held.includes(n)))
    sources.push(await sourceHealth(repo, source, opts.drivers ?? registry));
  return {
    location: repo.location,
    checkedAtMicros: BigInt(now.getTime()) * 1000n,
    bytes: await repositoryBytes(repo, opts.signal ? { signal: opts.signal } : {}),
    sources,
    missing: names.filter((n) => !held.includes(n)),
    held,
  };
}

async function sourceHealth(repo: Repository, source: string, drivers: Drivers): Promise<SourceHealth> {
  const snapshots = await repo.listSnapshots({ source });
  const segments = await repo.listSegments(source);
  const driver = await driverOfSource([...snapshots, ...segments], drivers);
  const compare = driver?.comparePositions ?? (() => 0);
  const full = snapshots.filter((s) => !isPartialSnapshot(s));
  const newest = full.reduce<SnapshotManifest | undefined>(
    (a, s) => (!a || BigInt(s.consistentAtMicros) > BigInt(a.consistentAtMicros) ? s : a),
    undefined,
  );
  const restorable = driver ? restoreWindows(full, segments, compare) : [];
  const newestMicros = newest ? BigInt(newest.consistentAtMicros) : undefined;
  const windowEnd = restorable.reduce((m, w) => (w.toMicros > m ? w.toMicros : m), -1n);
  const recoveryPointMicros =
    newestMicros === undefined ? undefined : windowEnd > newestMicros ? windowEnd : newestMicros;
  const allGaps = driver ? logGaps(segments, compare) : [];
  const lastDrill = (await repo.listDrills({ source })).at(-1);
  const openGaps =
    driver && newest && segments.length
      ? logGaps(segments, compare, { position: newest.position, micros: newestMicros! })
      : [];
  return {
    source,
    driver: driver?.kind ?? '',
    ...(newest
      ? {
          newestSnapshot: {
            id: newest.id,
            consistentAt: newest.consistentAt,
            consistentAtMicros: newestMicros!,
            sourceUrl: newest.sourceUrl,
            tags: newest.tags,
          },
        }
      : {}),
    snapshots: snapshots.length,
    ...(segments.length
      ? {
          log: {
            segments: segments.length,
            bytes: segments.reduce((n, s) => n + s.data.bytes, 0),
            storedUntilMicros: storedUntil(segments),
            newestSegmentAt: segments.map((s) => s.createdAt).reduce((a, b) => (b > a ? b : a)),
          },
        }
      : {}),
    streams: await runningStreams(repo, source),
    restorable,
    ...(recoveryPointMicros !== undefined ? { recoveryPointMicros } : {}),
    openGaps,
    earlierGaps: newest
      ? allGaps.filter((g) => compare(g.before, newest.position) <= 0).length
      : allGaps.length,
    ...(lastDrill ? { lastDrill } : {}),
  };
}
