/**
 * Restore to a transaction (`--before REF`, `--through REF`): planned and stopped by position, in
 * the driver's order, so it is exact whatever the resolution of the source's clock (MariaDB
 * records commit times to the second; a busy PostgreSQL commits several transactions in one
 * millisecond, and their times need not even follow the commit order).
 *
 * A snapshot holds every transaction at or before its position. So `--before P` needs a snapshot
 * whose position is before P, `--through P` one at or before P, and the log continuous from it up
 * to P; the replay applies transactions in position order and stops at the first one at P
 * (`--before`) or after P (`--through`: after P's last part).
 */
import type { Position, Transaction } from '../driver/source-driver.js';
import type { SegmentManifest, SnapshotManifest } from '../repository/repository-api.js';
import { RestoreRefusedError } from '../util/errors.js';
import { walkChain, type Compare } from './chain.js';
import type { RestorePlan } from './plan.js';

/** Where a restore to a transaction stops, found in the stored log by its reference. */
export interface TransactionStop {
  readonly kind: 'before' | 'through';
  /** The transaction's reference, as its driver prints it. */
  readonly ref: string;
  readonly position: Position;
  /** Its commit time, for messages, at the source's resolution. */
  readonly commitTime: string;
}

/** "up to just before transaction X (committed T)" / "up to and including transaction X (…)", for messages. */
export function describeStop(stop: TransactionStop): string {
  return `up to ${stop.kind === 'before' ? 'just before' : 'and including'} transaction ${stop.ref} (committed ${stop.commitTime})`;
}

export function planToTransaction(
  snapshots: readonly SnapshotManifest[],
  segments: readonly SegmentManifest[],
  stop: TransactionStop,
  compare: Compare,
): RestorePlan {
  // a snapshot at P holds P: good for the state after it, not before it
  const usable = (s: SnapshotManifest): boolean =>
    stop.kind === 'before' ? compare(s.position, stop.position) < 0 : compare(s.position, stop.position) <= 0;
  const byPosition = [...snapshots].sort(
    (a, b) =>
      compare(a.position, b.position) || cmpBig(BigInt(a.consistentAtMicros), BigInt(b.consistentAtMicros)),
  );
  const candidates = byPosition.filter(usable);
  if (candidates.length === 0) {
    const oldest = byPosition[0]!;
    throw new RestoreRefusedError(
      `Transaction ${stop.ref} (committed ${stop.commitTime}) is already in the oldest snapshot of ${oldest.source} (${oldest.id.slice(0, 12)}, consistent at ${oldest.consistentAt}), so the state ${stop.kind === 'before' ? 'just before' : 'just after'} it cannot be restored.`,
    );
  }
  // Newest usable snapshot first; an older one can serve if the log from the newest has a gap.
  let firstRefusal: RestoreRefusedError | undefined;
  for (const snapshot of [...candidates].reverse()) {
    const chain = walkChain(snapshot, segments, compare);
    const end = chain.segments.findIndex((s) => compare(s.lastPosition, stop.position) >= 0);
    if (end >= 0 || compare(snapshot.position, stop.position) >= 0) {
      return {
        snapshot,
        segments: end >= 0 ? chain.segments.slice(0, end + 1) : [],
        untilMicros: undefined,
        stop,
      };
    }
    firstRefusal ??= new RestoreRefusedError(
      chain.gapBefore
        ? `The change log has a gap between position ${chain.reached} and position ${chain.gapBefore.fromPosition}; transaction ${stop.ref} cannot be restored exactly from snapshot ${snapshot.id.slice(0, 12)}.`
        : `No stored change log continues from snapshot ${snapshot.id.slice(0, 12)} of ${snapshot.source} to transaction ${stop.ref}; it cannot be restored exactly.`,
    );
  }
  throw firstRefusal!;
}

/**
 * The replay's stop rule for `plan`: true for the first transaction (its first part) that must
 * not be applied. By position for a transaction target, by commit time otherwise.
 */
export function replayStop(plan: RestorePlan, compare: Compare): (tx: Transaction) => boolean {
  const stop = plan.stop;
  if (stop) {
    return stop.kind === 'before'
      ? (tx) => compare(tx.position, stop.position) >= 0
      : (tx) => compare(tx.position, stop.position) > 0;
  }
  const until = plan.untilMicros;
  // Stop at the first commit after the target, as PostgreSQL's recovery_target_time does: the
  // restored state is then a prefix of the commit order, never a mix.
  return (tx) => until === undefined || tx.commitTime > until;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
