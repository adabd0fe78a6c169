/**
 * What copy copies and in which order, without any repository: segments in the driver's position
 * order (unpadded decimals, which sort the other way round as strings), each snapshot before the
 * first segment that ends after its position; --since keeps the log a kept snapshot needs.
 */
import { describe, expect, it } from 'vitest';
import type { PositionOrder } from '../../../src/driver/position-order.js';
import { planCopy, sinceAnchors } from '../../../src/copy/plan.js';
import type { SegmentManifest, SnapshotManifest } from '../../../src/repository/repository-api.js';

const order: PositionOrder = (_driver, a, b) => {
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
};
const at = (second: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();
const micros = (second: number): string => String(BigInt(Date.UTC(2026, 0, 1, 0, 0, second)) * 1000n);

function snap(id: string, position: number, second: number, source = 'crm'): SnapshotManifest {
  return {
    id,
    source,
    driver: 'fake',
    driverFormatVersion: 1,
    tags: [],
    position: String(position),
    consistentAt: at(second),
    consistentAtMicros: micros(second),
    startedAt: at(second),
    finishedAt: at(second),
    schemaFormat: 'fake',
    schema: { chunks: [], sizes: [], bytes: 0 },
    streams: [],
    meta: {},
    sourceUrl: 'fake://crm',
  };
}

function seg(id: string, from: number, last: number, second: number, source = 'crm'): SegmentManifest {
  return {
    id,
    source,
    driver: 'fake',
    driverFormatVersion: 1,
    fromPosition: String(from),
    firstPosition: String(from + 1),
    lastPosition: String(last),
    firstCommitMicros: micros(second - 1),
    lastCommitMicros: micros(second),
    coveredUntilMicros: String(BigInt(micros(second)) - 1n),
    transactions: 2,
    changes: 2,
    tables: ['t'],
    data: { chunks: [], sizes: [], bytes: 0 },
    createdAt: at(second),
  };
}

const ids = (p: ReturnType<typeof planCopy>): string[] => p.items.map((i) => i.manifest.id);

describe('copy plan', () => {
  it('puts segments in position order, snapshots between them by position, source after source', () => {
    const plan = planCopy({
      snapshots: [snap('s2', 99, 25), snap('s1', 9, 5), snap('o1', 5, 1, 'other')],
      // stored newest first and "9" > "10" as strings: neither storage nor string order is any help
      segments: [seg('g3', 999, 1500, 40), seg('g1', 9, 99, 10), seg('g2', 99, 999, 30)],
      order,
    });
    expect(ids(plan)).toEqual(['s1', 'g1', 's2', 'g2', 'g3', 'o1']);
    expect(plan.tooOld).toBe(0);
  });

  it('copies a gap as it is: both sides of it, nothing invented', () => {
    const plan = planCopy({ snapshots: [], segments: [seg('late', 999, 1500, 40), seg('early', 9, 99, 10)], order });
    expect(ids(plan)).toEqual(['early', 'late']);
  });

  it('--since: newer snapshots, and the log from the oldest of them even where its commits are older', () => {
    const all = [snap('old', 9, 5), snap('new', 150, 25)];
    const since = BigInt(micros(20));
    const anchors = sinceAnchors(all, since);
    expect(anchors.get('crm')).toBe('150');
    const plan = planCopy({
      snapshots: all,
      // 99..200 ends after the new snapshot's position although its last commit (second 19) is older
      segments: [seg('before', 9, 99, 10), seg('across', 99, 200, 19), seg('after', 200, 300, 30)],
      sinceMicros: since,
      anchors,
      order,
    });
    expect(ids(plan)).toEqual(['new', 'across', 'after']);
    expect(plan.tooOld).toBe(2);
  });

  it('--since with no snapshot after it: the segments with commits at or after it', () => {
    const plan = planCopy({
      snapshots: [snap('old', 9, 5)],
      segments: [seg('a', 9, 99, 10), seg('b', 99, 200, 30)],
      sinceMicros: BigInt(micros(20)),
      anchors: new Map(),
      order,
    });
    expect(ids(plan)).toEqual(['b']);
  });
});
