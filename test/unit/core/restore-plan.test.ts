import { describe, expect, it } from 'vitest';
import type { SegmentManifest, SnapshotManifest } from '../../../src/repository/repository-api.js';
import { planRestore } from '../../../src/restore/plan.js';
import { restoreWindows } from '../../../src/restore/windows.js';
import { RestoreRefusedError } from '../../../src/util/errors.js';
import { formatMicros } from '../../../src/util/time.js';

const pos = (n: number): string => n.toString(16).toUpperCase().padStart(16, '0');
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const T0 = 1_800_000_000_000_000n; // µs
const ref = { chunks: [], sizes: [], bytes: 0 };

function snapshot(id: string, position: number, atSec: number, tags: string[] = []): SnapshotManifest {
  const micros = T0 + BigInt(atSec) * 1_000_000n;
  return {
    id, source: 's', driver: 'postgres', driverFormatVersion: 1, tags, position: pos(position),
    consistentAt: formatMicros(micros), consistentAtMicros: micros.toString(), startedAt: '', finishedAt: '',
    schemaFormat: 'x', schema: ref, streams: [], meta: {}, sourceUrl: '',
  };
}

function segment(id: string, from: number, last: number, coveredSec: number): SegmentManifest {
  const covered = T0 + BigInt(coveredSec) * 1_000_000n;
  return {
    id, source: 's', driver: 'postgres', driverFormatVersion: 1, fromPosition: pos(from), firstPosition: pos(from + 1),
    lastPosition: pos(last), firstCommitMicros: (covered - 1n).toString(), lastCommitMicros: covered.toString(),
    coveredUntilMicros: covered.toString(), transactions: 1, changes: 1, tables: [], data: ref, createdAt: '',
  };
}

const at = (sec: number) => ({ kind: 'time' as const, micros: T0 + BigInt(sec) * 1_000_000n });

describe('restore planning', () => {
  const snaps = [snapshot('aaaa', 100, 10, ['nightly']), snapshot('bbbb', 300, 30)];
  const segs = [segment('s1', 50, 200, 20), segment('s2', 200, 400, 40), segment('s3', 400, 500, 50)];

  it('picks the newest snapshot at or before the target and the segments that continue it', () => {
    const plan = planRestore(snaps, segs, at(35), cmp);
    expect(plan.snapshot.id).toBe('bbbb');
    expect(plan.segments.map((s) => s.id)).toEqual(['s2']);
    expect(plan.untilMicros).toBe(at(35).micros);
    expect(planRestore(snaps, segs, at(25), cmp).snapshot.id).toBe('aaaa');
    expect(planRestore(snaps, segs, at(45), cmp).segments.map((s) => s.id)).toEqual(['s2', 's3']);
  });

  it('refuses a target after the end of the log, naming how far it reaches', () => {
    expect(() => planRestore(snaps, segs, at(60), cmp)).toThrow(
      `The change log of s is complete only up to ${formatMicros(at(50).micros)}; ${formatMicros(at(60).micros)} is later`,
    );
  });

  it('refuses across a gap, naming its boundaries', () => {
    const gappy = [segment('s1', 50, 200, 20), segment('s3', 400, 500, 50)];
    const err = (() => {
      try {
        planRestore([snaps[0]!], gappy, at(45), cmp);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(RestoreRefusedError);
    expect(err?.message).toContain(`gap between position ${pos(200)}`);
    expect(err?.message).toContain(`and position ${pos(400)}`);
  });

  it('refuses a target before every snapshot', () => {
    expect(() => planRestore(snaps, segs, at(5), cmp)).toThrow(`No snapshot is at or before ${formatMicros(at(5).micros)}`);
  });

  it('never treats a snapshot alone as proof of a point in time', () => {
    expect(() => planRestore([snapshot('cccc', 900, 90)], segs, at(90), cmp)).toThrow('No stored change log continues from snapshot cccc');
  });

  it('restores by id prefix, tag and latest without replay', () => {
    expect(planRestore(snaps, segs, { kind: 'snapshot', id: 'aa' }, cmp)).toMatchObject({ segments: [], untilMicros: undefined });
    expect(planRestore(snaps, segs, { kind: 'tag', tag: 'nightly' }, cmp).snapshot.id).toBe('aaaa');
    expect(planRestore(snaps, segs, { kind: 'latest' }, cmp).snapshot.id).toBe('bbbb');
    expect(() => planRestore(snaps, segs, { kind: 'tag', tag: 'nope' }, cmp)).toThrow('No snapshot is tagged "nope".');
  });

  it('lists merged restorable windows', () => {
    const w = restoreWindows(snaps, segs, cmp);
    expect(w).toEqual([{ fromMicros: at(10).micros, toMicros: at(50).micros }]);
  });
});
