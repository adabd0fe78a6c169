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
  const sorted = byPosition(all, compare);
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

function byPosition(all: readonly SegmentManifest[], compare: Compare): SegmentManifest[] {
  return [...all].sort(
    (a, b) => compare(a.lastPosition, b.lastPosition) || compare(a.fromPosition, b.fromPosition),
  );
}

/** A break in the stored log: the changes between `after` and `before` are in no segment. */
export interface LogGap {
  /** The last position stored before the gap (a segment's end, or the snapshot's position). */
  readonly after: Position;
  /** Every commit at or before this instant (µs) is stored before the gap; -1 when unknown. */
  readonly afterMicros: bigint;
  /** The position the log continues from after the gap. */
  readonly before: Position;
  /** The first commit stored after the gap (µs); -1 when that segment holds none. */
  readonly beforeMicros: bigint;
}

/**
 * The gaps of the stored log, in position order: after `from` (a snapshot: the log must continue
 * from its position), or in the whole log, whose first segment starts it. The same rule as
 * walkChain, which stops at the first of them.
 */
export function logGaps(
  all: readonly SegmentManifest[],
  compare: Compare,
  from?: { readonly position: Position; readonly micros: bigint },
): LogGap[] {
  const gaps: LogGap[] = [];
  let reached = from?.position;
  let reachedMicros = from?.micros ?? -1n;
  for (const seg of byPosition(all, compare)) {
    if (reached !== undefined) {
      if (compare(seg.lastPosition, reached) <= 0) continue;
      if (compare(seg.fromPosition, reached) > 0) {
        const first = BigInt(seg.firstCommitMicros);
        gaps.push({
          after: reached,
          afterMicros: reachedMicros,
          before: seg.fromPosition,
          beforeMicros: seg.transactions > 0 && first > 0n ? first : -1n,
        });
      }
    }
    reached = seg.lastPosition;
    const covered = BigInt(seg.coveredUntilMicros);
    if (covered > reachedMicros) reachedMicros = covered;
  }
  return gaps;
}
