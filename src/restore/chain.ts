/**
 * Walks the log segments that continue from a snapshot's position, in position order, until
 * the target time is covered, the log ends, or a gap appears.
 */
import type { Position } from '../driver/source-driver.js';
import type { SegmentManifest, SnapshotManifest } from '../repository/repository-api.js';

export type Compare = (a: Position, b: Position) => number;

export interface Chain {
  readonly segments: SegmentManifest[];
  /** Every commit at or before this instant (µs) is in the snapshot or the segments; -1 if none. */
  readonly covered: bigint;
  readonly reached: Position;
  /** The first segment that does not continue from `reached`, if the walk stopped at a gap. */
  readonly gapBefore?: SegmentManifest;
}

export function walkChain(
  snapshot: SnapshotManifest,
  all: readonly SegmentManifest[],
  compare: Compare,
  until?: bigint,
): Chain {
  const sorted = [...all].sort(
    (a, b) => compare(a.lastPosition, b.lastPosition) || compare(a.fromPosition, b.fromPosition),
  );
  const segments: SegmentManifest[] = [];
  let reached: Position = snapshot.position;
  // The snapshot alone proves nothing about time: a transaction can commit after the slot's
  // consistent point yet carry a commit time before consistentAt. Coverage comes from the log.
  let covered = -1n;
  for (const seg of sorted) {
    if (until !== undefined && covered >= until) break;
    if (compare(seg.lastPosition, reached) <= 0) continue; // wholly inside what we already have
    if (compare(seg.fromPosition, reached) > 0) return { segments, covered, reached, gapBefore: seg };
    segments.push(seg);
    reached = seg.lastPosition;
    const segCovered = BigInt(seg.coveredUntilMicros);
    if (segCovered > covered) covered = segCovered;
  }
  return { segments, covered, reached };
}
