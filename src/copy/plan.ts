/**
 * What copy copies, and in which order, from the manifests of the source repository that the
 * destination lacks. Each source's segments go in log position order (by the driver that wrote
 * them), so a run cut short leaves the destination a prefix of the source's log: a restore from
 * it is refused past its end, never misled by a later segment without its predecessors. Gaps of
 * the source's log are copied as they are (the manifests keep their positions), so a restore into
 * a gap is refused from the copy as from the original. Each snapshot goes before the first segment
 * that ends after its position, so the destination's protection advances as the source's did.
 */
import type { PositionOrder } from '../driver/position-order.js';
import type { SegmentManifest, SnapshotManifest } from '../repository/index.js';

export type CopyItem =
  | { readonly kind: 'snapshot'; readonly manifest: SnapshotManifest }
  | { readonly kind: 'segment'; readonly manifest: SegmentManifest };

export interface PlanInput {
  /** The source repository's manifests whose origin the destination does not hold. */
  readonly snapshots: readonly SnapshotManifest[];
  readonly segments: readonly SegmentManifest[];
  /** `--since`: snapshots consistent at or after it, and the log from the oldest of them on. */
  readonly sinceMicros?: bigint;
  /**
   * With sinceMicros: per source, the position of its oldest snapshot consistent at or after
   * sinceMicros (copied or not): segments ending after it are copied even when their commits
   * are older, since the restore from that snapshot needs them (see sinceAnchors).
   */
  readonly anchors?: ReadonlyMap<string, string>;
  readonly order: PositionOrder;
}

export interface CopyPlan {
  readonly items: readonly CopyItem[];
  /** Manifests left out by --since. */
  readonly tooOld: number;
}

/** Per source, the position of the oldest snapshot consistent at or after `since`. */
export function sinceAnchors(snapshots: readonly SnapshotManifest[], since: bigint): Map<string, string> {
  const oldest = new Map<string, SnapshotManifest>();
  for (const s of snapshots) {
    if (BigInt(s.consistentAtMicros) < since) continue;
    const o = oldest.get(s.source);
    if (!o || BigInt(s.consistentAtMicros) < BigInt(o.consistentAtMicros)) oldest.set(s.source, s);
  }
  return new Map([...oldest].map(([source, s]) => [source, s.position]));
}

export function planCopy(input: PlanInput): CopyPlan {
  const { sinceMicros: since, order } = input;
  const snapshots = input.snapshots.filter((s) => since === undefined || BigInt(s.consistentAtMicros) >= since);
  const segments = input.segments.filter((g) => {
    if (since === undefined || BigInt(g.lastCommitMicros) >= since) return true;
    const anchor = input.anchors?.get(g.source);
    return anchor !== undefined && order(g.driver, g.lastPosition, anchor) > 0;
  });
  const tooOld = input.snapshots.length - snapshots.length + input.segments.length - segments.length;
  const sources = [...new Set([...snapshots, ...segments].map((m) => m.source))].sort();
  const items: CopyItem[] = [];
  for (const source of sources) {
    const snaps = snapshots
      .filter((s) => s.source === source)
      .sort((a, b) => cmpMicros(a.consistentAtMicros, b.consistentAtMicros) || a.id.localeCompare(b.id));
    const segs = segments
      .filter((g) => g.source === source)
      .sort(
        (a, b) =>
          order(a.driver, a.lastPosition, b.lastPosition) ||
          order(a.driver, a.fromPosition, b.fromPosition) ||
          a.id.localeCompare(b.id),
      );
    items.push(...merge(snaps, segs, order));
  }
  return { items, tooOld };
}

/** Both lists keep their order; a snapshot goes before the first segment that ends after its position. */
function merge(snaps: readonly SnapshotManifest[], segs: readonly SegmentManifest[], order: PositionOrder): CopyItem[] {
  const out: CopyItem[] = [];
  let i = 0;
  let j = 0;
  while (i < snaps.length || j < segs.length) {
    const s = snaps[i];
    const g = segs[j];
    if (s && (!g || order(s.driver, s.position, g.lastPosition) < 0)) {
      out.push({ kind: 'snapshot', manifest: s });
      i++;
    } else if (g) {
      out.push({ kind: 'segment', manifest: g });
      j++;
    }
  }
  return out;
}

function cmpMicros(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
