import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  applyPolicy,
  forget,
  prune,
  verifyRepository,
  type Repository,
  type SnapshotManifest,
  type StreamRef,
} from '../../../src/repository/index.js';
import { segmentOf, snapshotOf, SMALL_CHUNKS } from './fixtures.js';
import { collect, crmStream, newRepo, pieces, randomBytesSeeded, reopen } from './helpers.js';
import type { MemoryBackend } from './memory-backend.js';

const open: Repository[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((r) => r.close()));
});

const EMPTY: StreamRef = { chunks: [], sizes: [], bytes: 0 };

function synthetic(dates: string[]): SnapshotManifest[] {
  return dates.map((d, i) => ({ ...snapshotOf('crm', new Date(d), {}, EMPTY), id: `s${i}` }));
}

describe('retention policy', () => {
  // Daily snapshots at 01:00 and an extra one at 13:00 on some days, over ~3 months.
  const dates: string[] = [];
  for (let t = Date.parse('2024-01-01T01:00:00Z'); t <= Date.parse('2024-03-31T01:00:00Z'); t += 86_400_000) {
    dates.push(new Date(t).toISOString());
    if (new Date(t).getUTCDate() % 10 === 0) dates.push(new Date(t + 12 * 3_600_000).toISOString());
  }
  const snaps = synthetic(dates);
  const kept = (p: Parameters<typeof applyPolicy>[1]): string[] =>
    applyPolicy(snaps, p)
      .filter((d) => d.keep)
      .map((d) => d.snapshot.consistentAt.slice(0, 16));

  it('keep-last keeps the newest N', () => {
    expect(kept({ keepLast: 2 })).toEqual(['2024-03-31T01:00', '2024-03-30T13:00']);
  });
  it('keep-daily keeps the newest of each day', () => {
    expect(kept({ keepDaily: 3 })).toEqual(['2024-03-31T01:00', '2024-03-30T13:00', '2024-03-29T01:00']);
  });
  it('keep-weekly keeps the newest of each ISO week', () => {
    // 2024-03-31 is a Sunday (week 13); the week before ends Sunday 2024-03-24.
    expect(kept({ keepWeekly: 3 })).toEqual(['2024-03-31T01:00', '2024-03-24T01:00', '2024-03-17T01:00']);
  });
  it('keep-monthly keeps the newest of each month; rules combine with reasons', () => {
    expect(kept({ keepMonthly: 3 })).toEqual(['2024-03-31T01:00', '2024-02-29T01:00', '2024-01-31T01:00']);
    const d = applyPolicy(snaps, { keepLast: 1, keepDaily: 2, keepMonthly: 2 });
    expect(d[0]?.reasons).toEqual(['last 1', 'daily 2024-03-31', 'monthly 2024-03']);
    expect(d.filter((x) => x.keep)).toHaveLength(3);
  });
});

describe('forget and prune', () => {
  it('removes forgotten snapshots and only the segments entirely before the oldest kept one', async () => {
    const { repo, storage } = await newRepo(SMALL_CHUNKS);
    open.push(repo);
    const mem = storage as MemoryBackend;
    const day = (d: number, h = 0): Date => new Date(Date.UTC(2025, 0, d, h));
    const refs: StreamRef[] = [];
    for (let d = 1; d <= 4; d++) {
      const ref = await repo.writeStream(crmStream(60_000, d * 100_000));
      refs.push(ref);
      await repo.commitSnapshot(snapshotOf('crm', day(d), { 'public.contacts': ref }, EMPTY));
      // A log segment from each snapshot to just before the next.
      const log = await repo.writeStream(pieces(randomBytesSeeded(30_000, d)));
      await repo.commitSegment(segmentOf('crm', day(d, 1), day(d, 23), log));
    }
    // One segment straddling the day-3 snapshot: it holds transactions after it, so it must stay.
    await repo.commitSegment(
      segmentOf('crm', day(2, 23), day(3, 2), await repo.writeStream(pieces(randomBytesSeeded(5000, 99)))),
    );
    await repo.close();

    const r = await reopen(storage);
    open.push(r);
    const dry = await forget(r, { keepLast: 2, dryRun: true });
    expect(dry.removed).toHaveLength(2);
    expect((await r.listSnapshots()).length).toBe(4);

    const result = await forget(r, { keepLast: 2 });
    expect(result.kept.map((k) => k.snapshot.consistentAt.slice(0, 10))).toEqual([
      '2025-01-04',
      '2025-01-03',
    ]);
    expect(result.removedSegments.map((s) => s.firstPosition.slice(0, 10)).sort()).toEqual([
      '2025-01-01',
      '2025-01-02',
    ]);
    expect(result.keptSegments).toBe(3);
    expect((await r.listSegments('crm')).map((s) => s.firstPosition.slice(0, 13))).toEqual([
      '2025-01-02T23',
      '2025-01-03T01',
      '2025-01-04T01',
    ]);

    const before = mem.keys('data/').length;
    // Grace period: just-written chunks are kept even though unreferenced.
    const young = await prune(r, { graceMs: 60 * 60 * 1000 });
    expect(young.deletedChunks).toBe(0);
    expect(young.keptYoungChunks).toBeGreaterThan(0);
    const pruned = await prune(r, { graceMs: 0 });
    expect(pruned.deletedChunks).toBe(young.keptYoungChunks);
    expect(mem.keys('data/').length).toBe(before - pruned.deletedChunks);
    expect((await verifyRepository(r, { readData: true })).ok).toBe(true);
    const [, , third] = refs;
    expect((await collect(r.readStream(third as StreamRef))).length).toBe(60_000);
  });

  it('never deletes what a writer commits after prune ran (locks and grace period)', async () => {
    const { repo: writer, storage } = await newRepo(SMALL_CHUNKS);
    open.push(writer);
    const old = await writer.writeStream(crmStream(80_000, 1));
    await writer.commitSnapshot(snapshotOf('crm', new Date('2025-01-01T00:00:00Z'), { t: old }, EMPTY));
    await writer.close();
    const timing = { staleMs: 5_000, noticeMs: 200 };

    // A writer that crashed: its chunks are written, its manifest is not, its lock was left behind and went stale.
    const crashed = await reopen(storage, { locks: timing });
    const orphan = await crashed.writeStream(crmStream(80_000, 5_000_000));
    // It crashed 10 s ago; then the clock stands still, so the live writer's lock below cannot
    // go stale too while a busy machine gets round to the prune.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 10_000);
    const pruner = await reopen(storage, { locks: timing });
    open.push(pruner);

    // Prune with a grace period keeps the stale writer's young chunks; the stale lock is ignored and removed.
    const kept = await prune(pruner, { graceMs: 60_000 });
    expect(kept.deletedChunks).toBe(0);
    expect(kept.removedStaleLocks).toBe(1);
    for (const id of orphan.chunks)
      expect((storage as MemoryBackend).objects.has(`data/${id.slice(0, 2)}/${id}`)).toBe(true);

    // A live writer is working: prune beside it deletes the dead writer's chunks and none of the
    // live one's, which it has written and not yet committed.
    const live = await reopen(storage, { locks: timing });
    open.push(live);
    const liveRef = await live.writeStream(crmStream(80_000, 9_000_000));
    const done = await prune(pruner, { graceMs: 0 });
    expect(done.deletedChunks).toBe(new Set(orphan.chunks).size);
    for (const id of liveRef.chunks)
      expect((storage as MemoryBackend).objects.has(`data/${id.slice(0, 2)}/${id}`)).toBe(true);
    await live.commitSnapshot(snapshotOf('crm', new Date('2025-01-02T00:00:00Z'), { t: liveRef }, EMPTY));
    await live.close();
    expect((await verifyRepository(pruner, { readData: true })).ok).toBe(true);
    await crashed.close().catch(() => undefined);
  });
});

describe('forget beside a running writer', () => {
  it('forget and prune run while a stream holds its shared lock; the stream goes on committing', async () => {
    const { repo: writer, storage } = await newRepo({ ...SMALL_CHUNKS, locks: { noticeMs: 200 } });
    open.push(writer);
    for (let d = 1; d <= 3; d++) {
      const ref = await writer.writeStream(crmStream(20_000, d * 100_000));
      await writer.commitSnapshot(
        snapshotOf('crm', new Date(Date.UTC(2025, 0, d)), { 'public.contacts': ref }, EMPTY),
      );
    }
    // `writer` stays open, like a stream job: it holds a shared lock.
    const other = await reopen(storage, { locks: { noticeMs: 200 } });
    open.push(other);
    const result = await forget(other, { keepLast: 1 });
    expect(result.removed).toHaveLength(2);
    expect(await other.listSnapshots()).toHaveLength(1);
    const pruned = await prune(other, { graceMs: 0 });
    expect(pruned.deletedChunks).toBeGreaterThan(0);
    const ref = await writer.writeStream(crmStream(20_000, 900_000));
    await writer.commitSnapshot(snapshotOf('crm', new Date(Date.UTC(2025, 0, 4)), { 'public.contacts': ref }, EMPTY));
    expect(await other.listSnapshots()).toHaveLength(2);
    expect((await verifyRepository(other, { readData: true })).ok).toBe(true);
  });
});
