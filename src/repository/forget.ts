/**
 * forget: remove snapshot manifests a keep policy does not keep, and the log segments no kept snapshot
 * needs. A kept snapshot can be rolled forward to any time after it, so only segments whose coverage
 * lies entirely before the oldest kept snapshot of their source are removed. Chunks are left to prune.
 */
import { UsageError } from '../util/errors.js';
import type { Repository, SegmentManifest, SnapshotManifest } from './repository-api.js';
import { asCrm } from './internal.js';
import { applyPolicy, hasKeepRule, type Decision, type KeepPolicy } from './retention.js';

export interface ForgetPolicy extends KeepPolicy {
  /** Only this source; default every source (each gets the policy separately). */
  readonly source?: string;
  /** Report without deleting. */
  readonly dryRun?: boolean;
}

export interface ForgetOptions {
  /**
   * Driver position order (`driver.comparePositions`), by driver name. Without it a segment is judged by
   * commit times: removed only when its last commit and its coverage are strictly before the snapshot instant.
   */
  readonly comparePositions?: (driver: string, a: string, b: string) => number;
  readonly signal?: AbortSignal;
}

export interface ForgetResult {
  readonly kept: { snapshot: SnapshotManifest; reasons: string[] }[];
  readonly removed: { snapshot: SnapshotManifest }[];
  readonly removedSegments: SegmentManifest[];
  readonly keptSegments: number;
}

/** True when every transaction of `seg` is already contained in snapshot `snap`. */
export function segmentBefore(
  seg: SegmentManifest,
  snap: SnapshotManifest,
  cmp?: ForgetOptions['comparePositions'],
): boolean {
  if (cmp) return cmp(seg.driver, seg.lastPosition, snap.position) <= 0;
  // A segment without transactions has no commit time to place it by; keeping it keeps the chain intact.
  if (seg.transactions === 0) return false;
  const at = BigInt(snap.consistentAtMicros);
  return BigInt(seg.lastCommitMicros) < at && BigInt(seg.coveredUntilMicros) < at;
}

export async function forget(
  repository: Repository,
  policy: ForgetPolicy,
  opts: ForgetOptions = {},
): Promise<ForgetResult> {
  if (!hasKeepRule(policy)) {
    throw new UsageError(
      'forget needs at least one --keep-last/--keep-hourly/--keep-daily/--keep-weekly/--keep-monthly rule; it refuses to remove every snapshot.',
    );
  }
  const repo = asCrm(repository);
  // Removing manifests never harms a concurrent writer (none references another manifest), nor a
  // restore (it holds the chunks it chose), so a shared lock suffices and nightly retention runs
  // beside a continuous stream. Deleting chunks is prune's job (prune.ts).
  const lock = policy.dryRun
    ? undefined
    : await repo.lock('shared', { purpose: 'forget', ...(opts.signal ? { signal: opts.signal } : {}) });
  try {
    const all = await repo.catalog.snapshots();
    const sources = policy.source !== undefined ? [policy.source] : [...new Set(all.map((s) => s.source))];
    const decisions: Decision[] = [];
    const removedSegments: SegmentManifest[] = [];
    let keptSegments = 0;
    for (const source of sources) {
      const mine = applyPolicy(
        all.filter((s) => s.source === source),
        policy,
      );
      decisions.push(...mine);
      const kept = mine.filter((d) => d.keep).map((d) => d.snapshot);
      const oldest = kept[kept.length - 1];
      for (const seg of await repo.catalog.segments(source)) {
        if (oldest && segmentBefore(seg, oldest, opts.comparePositions)) removedSegments.push(seg);
        else keptSegments++;
      }
    }
    if (!policy.dryRun) {
      for (const d of decisions) {
        if (lock?.signal.aborted) throw lock.signal.reason;
        if (!d.keep) await repo.catalog.deleteSnapshot(d.snapshot.id);
      }
      for (const seg of removedSegments) {
        if (lock?.signal.aborted) throw lock.signal.reason;
        await repo.catalog.deleteSegment(seg);
      }
    }
    return {
      kept: decisions.filter((d) => d.keep).map((d) => ({ snapshot: d.snapshot, reasons: d.reasons })),
      removed: decisions.filter((d) => !d.keep).map((d) => ({ snapshot: d.snapshot })),
      removedSegments,
      keptSegments,
    };
  } finally {
    await lock?.release();
  }
}
