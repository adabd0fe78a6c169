/**
 * Retention beside a 24/7 stream (issue #10 item 8): a real PostgreSQL source under a write
 * workload, a stream job storing a segment every second, snapshots, and `forget --keep-last 1`
 * plus prune with a grace period of 0 (so only the lock protocol protects what is being written or
 * read), all at the same time; one restore reads while forget removes and prune deletes what it
 * chose. Each repository instance stands for a separate process. The restores must equal the
 * source, and `verify --read-data` must find nothing wrong.
 */
import { describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { forget, openRepository, prune, verifyRepository, type Repository } from '../../src/repository/index.js';
import { asCrm } from '../../src/repository/internal.js';
import type { ObjectInfo, PutOptions, StorageBackend } from '../../src/storage/storage-backend.js';
import { Secret } from '../../src/util/redact.js';
import {
  pitrFixture,
  restoreInto,
  serverNowMicros,
  startStream,
  takeSnapshot,
  TEST_PASSWORD,
} from '../helpers/pitr.js';

/** Locks refreshed often and notices looked for every 100 ms; stale only after 30 s on a loaded machine. */
const LOCKS = { refreshMs: 250, staleMs: 30_000, noticeMs: 100 };
const NAME = 'crm_prune';
const order = { comparePositions: (_driver: string, a: string, b: string) => driver.comparePositions(a, b) };

/** Reads of chunks stall while the gate is closed (fault injection): a restore caught mid-way. */
class StalledReads implements StorageBackend {
  readonly location: string;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private arrived: (() => void) | undefined;
  /** Resolves when the first chunk read arrives at the closed gate. */
  readonly reading: Promise<void>;

  constructor(private readonly inner: StorageBackend) {
    this.location = inner.location;
    this.gate = new Promise((r) => (this.openGate = r));
    this.reading = new Promise((r) => (this.arrived = r));
  }

  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    opts?: { signal?: AbortSignal },
  ): Promise<AsyncIterable<Uint8Array>> {
    if (key.startsWith('data/') && this.gate) {
      this.arrived?.();
      await this.gate;
    }
    return this.inner.get(key, range, opts);
  }

  put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    return this.inner.put(key, body, opts);
  }
  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    return this.inner.stat(key);
  }
}

describe('prune beside a running stream, snapshots and a restore (PostgreSQL)', () => {
  const fx = pitrFixture('prunestream', (url) => seedCrm(url, { scale: 0.01, seed: 11 }));

  it('forget --keep-last 1 and prune (grace 0) run again and again while everything runs, and the restores are exact', async () => {
    const storage = asCrm(fx.repo).storage;
    const repos: Repository[] = [];
    const openAs = async (s: StorageBackend = storage): Promise<Repository> => {
      const r = await openRepository(s, new Secret(TEST_PASSWORD), { locks: LOCKS });
      repos.push(r);
      return r;
    };
    const streamer = await openAs();
    const snapshotter = await openAs();
    const pruner = await openAs();
    const stream = startStream(streamer, driver, fx.source.url, NAME);
    try {
      await stream.started;
      await takeSnapshot(snapshotter, driver, fx.source.url, NAME, ['base']);

      // 1. three rounds, each a snapshot and forget + prune at once, under a live workload
      const busy = new AbortController();
      const workload = runWorkload(fx.source.url, { ratePerSecond: 150, signal: busy.signal, seed: 31 });
      let deleted = 0;
      for (let round = 0; round < 3; round++) {
        const [, pruned] = await Promise.all([
          takeSnapshot(snapshotter, driver, fx.source.url, NAME),
          (async () => {
            await forget(pruner, { keepLast: 1 }, order);
            return prune(pruner, { graceMs: 0 });
          })(),
        ]);
        deleted += pruned.deletedChunks;
      }
      busy.abort();
      await workload;
      expect(deleted).toBeGreaterThan(0);
      const quiet = { sums: await pgTableChecksums(fx.source.url), at: await serverNowMicros(fx.source.url) };
      await stream.waitCovered(quiet.at);

      // 2. a restore to that instant, caught after it chose its snapshot and log: a newer snapshot,
      // forget --keep-last 1 and prune then remove and delete what it reads
      const stalled = new StalledReads(storage);
      const reader = await openAs(stalled);
      const first = await fx.target();
      const restoring = restoreInto(reader, driver, NAME, { kind: 'time', micros: quiet.at }, first.url);
      await Promise.race([stalled.reading, restoring]);
      await takeSnapshot(snapshotter, driver, fx.source.url, NAME, ['after']);
      const forgotten = await forget(pruner, { keepLast: 1 }, order);
      expect(forgotten.removedSegments.length).toBeGreaterThan(0);
      const during = await prune(pruner, { graceMs: 0 });
      expect(during.keptHeldChunks).toBeGreaterThan(0);
      stalled.open();
      await restoring;
      expect(await pgTableChecksums(first.url)).toEqual(quiet.sums);

      // 3. more changes, then a restore to a time after every prune
      await runWorkload(fx.source.url, { ratePerSecond: 150, durationMs: 1000, seed: 32 });
      const end = { sums: await pgTableChecksums(fx.source.url), at: await serverNowMicros(fx.source.url) };
      await stream.waitCovered(end.at);
      await stream.stop();
      const last = await fx.target();
      await restoreInto(reader, driver, NAME, { kind: 'time', micros: end.at }, last.url);
      expect(await pgTableChecksums(last.url)).toEqual(end.sums);
      expect(await verifyRepository(pruner, { readData: true })).toMatchObject({ ok: true, problems: [] });
    } finally {
      await stream.stop().catch(() => {});
      for (const r of repos) await r.close().catch(() => {});
    }
  });
});
