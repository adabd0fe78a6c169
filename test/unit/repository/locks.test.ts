import { afterEach, describe, expect, it, vi } from 'vitest';
import { LockedError } from '../../../src/util/errors.js';
import { prune, type Repository } from '../../../src/repository/index.js';
import type { MemoryBackend } from './memory-backend.js';
import { snapshotOf } from './fixtures.js';
import { newRepo, reopen, randomBytesSeeded, pieces } from './helpers.js';
import { waitFor } from '../../harness/util.js';

const open: Repository[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function two(
  locks = { refreshMs: 20, staleMs: 200 },
): Promise<{ a: Repository; b: Repository; storage: MemoryBackend }> {
  const { repo: a, storage } = await newRepo({ locks });
  const b = await reopen(storage, { locks });
  open.push(a, b);
  return { a, b, storage: storage as MemoryBackend };
}

describe('locks', () => {
  it('shared locks coexist; exclusive conflicts both ways, naming the holder', async () => {
    const { a, b } = await two();
    const s1 = await a.lock('shared');
    const s2 = await b.lock('shared');
    const e = await b.lock('exclusive', { purpose: 'prune' }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(LockedError);
    expect((e as Error).message).toMatch(
      new RegExp(
        `^The repository at memory://test is locked shared by host .+ pid ${process.pid} since \\d+ s ago;`,
      ),
    );
    await s1.release();
    await s2.release();
    const x = await a.lock('exclusive', { purpose: 'prune' });
    await expect(b.lock('shared')).rejects.toThrow(/locked exclusive by host .* \(prune\) since \d+ s ago/);
    await x.release();
    await (await b.lock('shared')).release();
  });

  it('ignores a stale lock and prune removes it', async () => {
    const { a, b, storage } = await two({ refreshMs: 60_000, staleMs: 100 });
    // the clock stands still until the test moves it past the stale age: a slow machine cannot
    // age the lock before b looks at it
    vi.useFakeTimers({ toFake: ['Date'] });
    await a.lock('exclusive');
    await expect(b.lock('shared')).rejects.toBeInstanceOf(LockedError);
    vi.setSystemTime(Date.now() + 150);
    const s = await b.lock('shared');
    await s.release();
    const result = await prune(b, { graceMs: 0 });
    expect(result.removedStaleLocks).toBe(1);
    expect(storage.keys('locks/')).toEqual([]);
  });

  it('does not judge a lock stale by a holder clock that runs behind while the store saw it just now', async () => {
    const { a, b, storage } = await two({ refreshMs: 60_000, staleMs: 100 });
    vi.useFakeTimers({ toFake: ['Date'] });
    await a.lock('exclusive');
    vi.setSystemTime(Date.now() + 150);
    // the holder's own timestamp is now older than staleMs; the store's modified time is fresh
    for (const [k, o] of storage.objects)
      if (k.startsWith('locks/')) storage.objects.set(k, { ...o, modified: new Date() });
    await expect(b.lock('shared')).rejects.toBeInstanceOf(LockedError);
  });

  it('keeps a refreshed lock alive past the stale age', async () => {
    const { a, b } = await two({ refreshMs: 20, staleMs: 100 });
    // a fake clock and refresh timer: 250 ms pass with a refresh every 20 ms, however busy the
    // machine (real timers could fire late enough for the lock to look stale)
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] });
    const x = await a.lock('exclusive');
    await vi.advanceTimersByTimeAsync(250);
    await expect(b.lock('shared')).rejects.toBeInstanceOf(LockedError);
    expect(x.signal.aborted).toBe(false);
    await x.release();
  });

  it('aborts the signal when a refresh fails, and a writer holding it stops', async () => {
    const { a, storage } = await two({ refreshMs: 20, staleMs: 1000 });
    const lock = await a.lock('shared');
    storage.failWrites = (k) => k.startsWith('locks/');
    await waitFor(() => lock.signal.aborted, 'the failed refresh to abort the lock signal', 10_000);
    expect(lock.signal.aborted).toBe(true);
    storage.failWrites = undefined;
    await lock.release();
  });

  it('aborts when the lock object was removed by someone else', async () => {
    const { a, storage } = await two({ refreshMs: 20, staleMs: 1000 });
    const lock = await a.lock('shared');
    for (const k of storage.keys('locks/')) storage.objects.delete(k);
    await waitFor(() => lock.signal.aborted, 'the refresh to find the lock gone', 10_000);
    expect(lock.signal.aborted).toBe(true);
    expect(String((lock.signal.reason as Error).message)).toMatch(/disappeared/);
  });

  it('a writeStream stops when its automatic write lock cannot be refreshed', async () => {
    const { a, storage } = await two({ refreshMs: 10, staleMs: 1000 });
    async function* slow(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 50; i++) {
        yield randomBytesSeeded(10_000, i + 1);
        await new Promise((r) => setTimeout(r, 5));
        if (i === 3) storage.failWrites = (k) => k.startsWith('locks/');
      }
    }
    await expect(a.writeStream(slow())).rejects.toThrow(/interrupted/);
    storage.failWrites = undefined;
  });

  it('a writer paused past its stale age commits nothing after a prune ran, and says why', async () => {
    // refreshMs far away: the writer's timer never runs, as in a process stopped by SIGSTOP
    const { a, b, storage } = await two({ refreshMs: 60_000, staleMs: 100 });
    const ref = await a.writeStream(pieces(randomBytesSeeded(50_000, 7)));
    await new Promise((r) => setTimeout(r, 150));
    // the writer's lock looks stale: the prune removes it and the chunks nothing references yet
    const pruned = await prune(b, { graceMs: 0 });
    expect(pruned.removedStaleLocks).toBe(1);
    expect(pruned.deletedChunks).toBeGreaterThan(0);
    const empty = { chunks: [], sizes: [], bytes: 0 };
    await expect(a.commitSnapshot(snapshotOf('crm', new Date(), { 'public.t': ref }, empty))).rejects.toThrow(
      /^This process held its shared lock on the repository at memory:\/\/test without refreshing it for \d+ s \(paused or stalled\), so another process may have judged it stale: The lock \w+ disappeared .*; run the command again\.$/,
    );
    expect(storage.keys('snapshots/')).toEqual([]);
  });

  it('a writer paused while a prune holds the repository does not commit', async () => {
    const { a, b, storage } = await two({ refreshMs: 60_000, staleMs: 100 });
    const ref = await a.writeStream(pieces(randomBytesSeeded(50_000, 8)));
    // the pause is a clock jump, and the clock then stands still: on a busy machine real time
    // could age the prune's lock past staleMs too before the commit looks at it
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 150);
    // a prune took its exclusive lock (ours looked stale) and has not removed ours yet
    const x = await b.lock('exclusive', { purpose: 'prune' });
    const empty = { chunks: [], sizes: [], bytes: 0 };
    await expect(a.commitSnapshot(snapshotOf('crm', new Date(), { 'public.t': ref }, empty))).rejects.toThrow(
      /judged it stale: The repository at memory:\/\/test is locked exclusive by host .* \(prune\)/,
    );
    expect(storage.keys('snapshots/')).toEqual([]);
    await x.release();
  });

  it('a lock refreshed on time is confirmed without a round trip', async () => {
    const { a, storage } = await two({ refreshMs: 60_000, staleMs: 10_000 });
    const lock = await a.lock('shared');
    storage.failWrites = (k) => k.startsWith('locks/');
    await lock.confirm(); // fresh: nothing written, so the failing store is not touched
    expect(lock.signal.aborted).toBe(false);
    storage.failWrites = undefined;
    await lock.release();
  });

  it('after a pause, the refresh timer firing first checks for conflicts too, so the commit still refuses', async () => {
    const { a, b, storage } = await two({ refreshMs: 20, staleMs: 1000 });
    const ref = await a.writeStream(pieces(randomBytesSeeded(50_000, 9)));
    // the writer is "paused" for 5 s: the clock jumps, nothing of its ran meanwhile, and a prune
    // that started then found its lock stale and took the exclusive lock
    const [own] = storage.keys('locks/');
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const woke = Date.now() + 5000;
      vi.setSystemTime(woke);
      const x = await b.lock('exclusive', { purpose: 'prune' });
      // the writer wakes: its overdue refresh timer fires (and rewrites its lock) before its commit
      await waitFor(
        () => (storage.objects.get(own!)?.modified.getTime() ?? 0) >= woke,
        "the writer's refresh timer to rewrite its lock",
        10_000,
      );
      const empty = { chunks: [], sizes: [], bytes: 0 };
      await expect(a.commitSnapshot(snapshotOf('crm', new Date(), { 'public.t': ref }, empty))).rejects.toThrow(
        /judged it stale: The repository at memory:\/\/test is locked exclusive by host .* \(prune\)/,
      );
      expect(storage.keys('snapshots/')).toEqual([]);
      await x.release();
    } finally {
      vi.useRealTimers();
    }
  });
});
