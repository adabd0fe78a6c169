/**
 * Restore planning: which snapshot, which log segments, and whether the log is continuous from
 * the snapshot's position to the target. Refuses (RestoreRefusedError) rather than restoring a
 * state that never existed.
 */
import { walkChain, type Compare } from './chain.js';
import { planToTransaction, type TransactionStop } from './plan-ref.js';
import type { SegmentManifest, SnapshotManifest } from '../repository/repository-api.js';
import { RestoreRefusedError } from '../util/errors.js';
import { formatMicros } from '../util/time.js';

export type RestoreTarget =
  | { readonly kind: 'time'; readonly micros: bigint }
  | { readonly kind: 'snapshot'; readonly id: string }
  | { readonly kind: 'tag'; readonly tag: string }
  | { readonly kind: 'latest' }
  /** Just before / just after the stored transaction `ref` names (plan-ref.ts). */
  | { readonly kind: 'before' | 'through'; readonly ref: string };

export interface RestorePlan {
  readonly snapshot: SnapshotManifest;
  /** Segments to replay, in position order; empty for a snapshot-only restore. */
  readonly segments: readonly SegmentManifest[];
  /** Replay transactions committed at or before this instant (µs); undefined: no replay. */
  readonly untilMicros: bigint | undefined;
  /** Replay up to a transaction, by position, instead (`--before`/`--through`). */
  readonly stop?: TransactionStop;
}

export function planRestore(
  snapshots: readonly SnapshotManifest[],
  segments: readonly SegmentManifest[],
  target: RestoreTarget,
  compare: Compare,
  /** For `before`/`through`: the transaction the reference names, found in the stored log. */
  stop?: TransactionStop,
): RestorePlan {
  if (snapshots.length === 0)
    throw new RestoreRefusedError(
      'The repository holds no snapshot of this source; take one with "crm-backup snapshot" first.',
    );
  const byTime = [...snapshots].sort((a, b) =>
    cmpBig(BigInt(a.consistentAtMicros), BigInt(b.consistentAtMicros)),
  );
  switch (target.kind) {
    case 'snapshot': {
      const matches = snapshots.filter((s) => s.id.startsWith(target.id));
      if (matches.length === 0)
        throw new RestoreRefusedError(`No snapshot has an id starting with "${target.id}".`);
      if (matches.length > 1)
        throw new RestoreRefusedError(
          `"${target.id}" matches ${matches.length} snapshots; give more characters of the id.`,
        );
      return { snapshot: matches[0]!, segments: [], untilMicros: undefined };
    }
    case 'tag': {
      const tagged = byTime.filter((s) => s.tags.includes(target.tag));
      if (tagged.length === 0) throw new RestoreRefusedError(`No snapshot is tagged "${target.tag}".`);
      return { snapshot: tagged.at(-1)!, segments: [], untilMicros: undefined };
    }
    case 'latest':
      return { snapshot: byTime.at(-1)!, segments: [], untilMicros: undefined };
    case 'time':
      return planAt(byTime, segments, target.micros, compare);
    case 'before':
    case 'through':
      if (stop?.kind !== target.kind)
        throw new Error(`planRestore: --${target.kind} ${target.ref} was not located first`);
      return planToTransaction(snapshots, segments, stop, compare);
  }
}

function planAt(
  byTime: readonly SnapshotManifest[],
  segments: readonly SegmentManifest[],
  at: bigint,
  compare: Compare,
): RestorePlan {
  const candidates = byTime.filter((s) => BigInt(s.consistentAtMicros) <= at);
  if (candidates.length === 0) {
    throw new RestoreRefusedError(
      `No snapshot is at or before ${formatMicros(at)}; the oldest is consistent at ${byTime[0]!.consistentAt}.`,
    );
  }
  // Newest usable snapshot first; an older one can serve if the log from the newest has a gap.
  let firstRefusal: RestoreRefusedError | undefined;
  for (const snapshot of [...candidates].reverse()) {
    try {
      return { snapshot, segments: chain(snapshot, segments, at, compare), untilMicros: at };
    } catch (err) {
      if (!(err instanceof RestoreRefusedError)) throw err;
      firstRefusal ??= err;
    }
  }
  throw firstRefusal!;
}

/** The segments continuing from the snapshot's position that cover everything up to `at`. */
function chain(
  snapshot: SnapshotManifest,
  all: readonly SegmentManifest[],
  at: bigint,
  compare: Compare,
): SegmentManifest[] {
  const { segments, covered, reached, gapBefore } = walkChain(snapshot, all, compare, at);
  if (covered >= at) return segments;
  if (gapBefore) {
    throw new RestoreRefusedError(
      `The change log has a gap between position ${reached}${covered >= 0n ? ` (complete up to ${formatMicros(covered)})` : ''} and position ${gapBefore.fromPosition} (first commit ${formatMicros(BigInt(gapBefore.firstCommitMicros))}); ${formatMicros(at)} cannot be restored exactly from snapshot ${snapshot.id.slice(0, 12)}.`,
    );
  }
  throw new RestoreRefusedError(
    covered < 0n
      ? `No stored change log continues from snapshot ${snapshot.id.slice(0, 12)} of ${snapshot.source}; ${formatMicros(at)} cannot be restored exactly (run "crm-backup stream" before taking snapshots, or restore --snapshot).`
      : `The change log of ${snapshot.source} is complete only up to ${formatMicros(covered)}; ${formatMicros(at)} is later (is "crm-backup stream" running, and has it stored a segment since?).`,
  );
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
