/**
 * Restore planning: which snapshot, which log segments, and whether the log is continuous from
 * the snapshot's position to the target. Refuses (RestoreRefusedError) rather than restoring a
 * state that never existed.
 *
 * A partial snapshot (taken with --tables/--schemas) never stands in for the whole database: a
 * restore of the whole database chooses among full snapshots only, and a --tables restore may
 * also start from a partial snapshot holding every table it restores. Only an explicit
 * --snapshot ID restores a partial snapshot as it is.
 */
import { walkChain, type Compare } from './chain.js';
import { planToTransaction, type TransactionStop } from './plan-ref.js';
import type { SegmentManifest, SnapshotManifest } from '../repository/repository-api.js';
import { describeSnapshotFilter, isPartialSnapshot } from '../repository/retention.js';
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

export interface PlanOptions {
  /**
   * `--tables`: true for the tables restored (the driver's matcher over the names it writes);
   * undefined when the whole database is restored.
   */
  readonly tables?: (table: string) => boolean;
  /** For `before`/`through`: the transaction the reference names, found in the stored log. */
  readonly stop?: TransactionStop;
}

/**
 * The log continues from the snapshot without a gap but is not stored up to the instant (yet):
 * `restore` says whether a stream is running and can wait for it (--wait).
 */
export class LogShortError extends RestoreRefusedError {
  constructor(
    message: string,
    readonly snapshot: SnapshotManifest,
    /** The newest instant the stored log of the source covers (µs), -1 when it covers none. */
    readonly storedUntilMicros: bigint,
    readonly atMicros: bigint,
  ) {
    super(message);
  }
}

export function planRestore(
  snapshots: readonly SnapshotManifest[],
  segments: readonly SegmentManifest[],
  target: RestoreTarget,
  compare: Compare,
  opts: PlanOptions = {},
): RestorePlan {
  if (snapshots.length === 0)
    throw new RestoreRefusedError(
      'The repository holds no snapshot of this source; take one with "crm-backup snapshot" first.',
    );
  const all = [...snapshots].sort((a, b) =>
    cmpBig(BigInt(a.consistentAtMicros), BigInt(b.consistentAtMicros)),
  );
  const covering = coveringSnapshots(all, opts.tables);
  const byTime = all.filter(covering);
  // the newest snapshot among `among` that could have served but does not cover what is restored
  const refuse = (among: readonly SnapshotManifest[], when: string): RestoreRefusedError =>
    notCovering(among.at(-1)!, when, opts.tables !== undefined);
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
      const tagged = all.filter((s) => s.tags.includes(target.tag));
      if (tagged.length === 0) throw new RestoreRefusedError(`No snapshot is tagged "${target.tag}".`);
      const usable = tagged.filter(covering);
      if (usable.length === 0) throw refuse(tagged, ` tagged "${target.tag}"`);
      return { snapshot: usable.at(-1)!, segments: [], untilMicros: undefined };
    }
    case 'latest':
      if (byTime.length === 0) throw refuse(all, '');
      return { snapshot: byTime.at(-1)!, segments: [], untilMicros: undefined };
    case 'time': {
      const before = all.filter((s) => BigInt(s.consistentAtMicros) <= target.micros);
      if (before.length > 0 && !before.some(covering))
        throw refuse(before, ` at or before ${formatMicros(target.micros)}`);
      if (byTime.length === 0) throw refuse(all, '');
      return planAt(byTime, segments, target.micros, compare);
    }
    case 'before':
    case 'through': {
      const stop = opts.stop;
      if (stop?.kind !== target.kind)
        throw new Error(`planRestore: --${target.kind} ${target.ref} was not located first`);
      if (byTime.length === 0) throw refuse(all, '');
      return planToTransaction(byTime, segments, stop, compare);
    }
  }
}

/**
 * Which snapshots can start a restore: full ones always; for a --tables restore also a partial
 * one that holds every table the names select among all the snapshots' tables (a table it lacks
 * but another snapshot has could exist at the instant, so it would come back missing).
 */
function coveringSnapshots(
  snapshots: readonly SnapshotManifest[],
  tables: ((table: string) => boolean) | undefined,
): (s: SnapshotManifest) => boolean {
  if (!tables) return (s) => !isPartialSnapshot(s);
  const wanted = new Set(snapshots.flatMap((s) => s.streams.map((t) => t.table)).filter(tables));
  return (s) => {
    if (!isPartialSnapshot(s)) return true;
    const held = new Set(s.streams.map((t) => t.table));
    return wanted.size > 0 && [...wanted].every((t) => held.has(t));
  };
}

function notCovering(newest: SnapshotManifest, when: string, tables: boolean): RestoreRefusedError {
  const id = newest.id.slice(0, 12);
  return new RestoreRefusedError(
    `No snapshot of ${newest.source}${when} covers ${tables ? 'every table --tables names' : 'the whole database'}; the newest, ${id}, is partial (taken with ${describeSnapshotFilter(newest.filter)}): restore it with --snapshot ${id} to get only its tables${tables ? '' : ', or only tables it holds with --tables'}.`,
  );
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
  const stored = all.reduce((max, s) => {
    const c = BigInt(s.coveredUntilMicros);
    return c > max ? c : max;
  }, -1n);
  throw new LogShortError(
    covered < 0n
      ? `No stored change log continues from snapshot ${snapshot.id.slice(0, 12)} of ${snapshot.source}; ${formatMicros(at)} cannot be restored exactly (run "crm-backup stream" before taking snapshots, or restore --snapshot).`
      : `The change log of ${snapshot.source} is complete only up to ${formatMicros(covered)}; ${formatMicros(at)} is later (is "crm-backup stream" running, and has it stored a segment since?).`,
    snapshot,
    stored > covered ? stored : covered,
    at,
  );
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
