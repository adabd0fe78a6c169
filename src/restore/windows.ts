/**
 * The time windows a source can be restored to: from each snapshot's consistent time to the end
 * of the unbroken log that continues from it. Overlapping windows are merged for display.
 */
import type { SegmentManifest, SnapshotManifest } from '../repository/repository-api.js';
import { walkChain, type Compare } from './chain.js';

export interface RestoreWindow {
  readonly fromMicros: bigint;
  readonly toMicros: bigint;
}

export function restoreWindows(
  snapshots: readonly SnapshotManifest[],
  segments: readonly SegmentManifest[],
  compare: Compare,
): RestoreWindow[] {
  const windows: RestoreWindow[] = [];
  for (const snap of snapshots) {
    const start = BigInt(snap.consistentAtMicros);
    const { covered } = walkChain(snap, segments, compare);
    if (covered >= start) windows.push({ fromMicros: start, toMicros: covered });
  }
  windows.sort((a, b) => (a.fromMicros < b.fromMicros ? -1 : a.fromMicros > b.fromMicros ? 1 : 0));
  const merged: RestoreWindow[] = [];
  for (const w of windows) {
    const last = merged.at(-1);
    if (last && w.fromMicros <= last.toMicros) {
      if (w.toMicros > last.toMicros)
        merged[merged.length - 1] = { fromMicros: last.fromMicros, toMicros: w.toMicros };
    } else merged.push(w);
  }
  return merged;
}
