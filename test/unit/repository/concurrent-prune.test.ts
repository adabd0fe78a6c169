/**
 * Prune beside running writers and readers (issue #10 item 8): the notice / holds / acknowledgement
 * protocol of docs/FORMAT.md "Locks", with a grace period of 0 so that only the protocol protects.
 * Interleavings are forced with a store whose chunk deletions wait at a gate; a paused process is
 * one whose timers never fire, its lock made stale by moving the clock (as in locks.test.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LockedError } from '../../../src/util/errors.js';
import {
  forget,
  prune,
  verifyRepository,
  type Repository,
  type StreamRef,
} from '../../../src/repository/index.js';
import { encodeObject } from '../../../src/repository/codec.js';
import { decodeObject } from '../../../src/repository/codec.js';
import { asCrm } from '../../../src/repository/internal.js';
import type { ObjectInfo } from '../../../src/storage/storage-backend.js';
import { snapshotOf, SMALL_CHUNKS } from './fixtures.js';
import { collect, crmStream, newRepo, reopen } from './helpers.js';
import { MemoryBackend } from './memory-backend.js';

const open: Repository[] = [];
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(open.splice(0).map((r) => r.close().catch(() => {})));
});

const EMPTY: StreamRef = { chunks: [], sizes: [], bytes: 0 };
/** Timers that run: holders look for notices every 10 ms. */
const LIVE = { refreshMs: 20, staleMs: 2000, noticeMs: 10 };
/** A process that is paused: its timers never fire during the test. */
const PAUSED = { refreshMs: 60_000, staleMs: 1000, noticeMs: 60_000 };
const day = (d: number): Date => new Date(Date.UTC(2025, 0, d));

/** Chunk deletions wait while the gate is closed; tells when the first one arrives and when locks are listed. */
class GatedBackend extends MemoryBackend {
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;
  private reached: (() => void) | undefined;
  private listed: (() => void) | undefined;
  deleting: Promise<void> = Promise.resolve();

  close(): void {
    this.gate = new Promise((r) => (this.openGate = r));
    this.deleting = new Promise((r) => (this.reached = r));
  }

  open(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  /** Resolves at the next listing of `locks/` (a writer waiting for a prune polls the locks). */
  nextLockListing(): Promise<void> {
    return new Promise((r) => (this.listed = r));
  }

  override async delete(key: string): Promise<void> {
    if (key.startsWith('data/') && this.gate) {
      this.reached?.();
      await this.gate;
    }
    return super.delete(key);
  }

  override list(prefix: string): AsyncIterable<ObjectInfo> {
    if (prefix === 'locks/') this.listed?.();
    return super.list(prefix);
  }
}

async function setup(storage = new MemoryBackend()): Promise<{
  writer: Repository;
  pruner: Repository;
  storage: MemoryBackend;
  old: StreamRef;
}> {
  const { repo: writer } = await newRepo({ ...SMALL_CHUNKS, locks: LIVE }, storage);
  open.push(writer);
  // two snapshots; `old` is referenced only by the first, which forget removes
  const old = await writer.writeStream(crmStream(60_000, 1));
  await writer.commitSnapshot(snapshotOf('crm', day(1), { t: old }, EMPTY));
  const kept = await writer.writeStream(crmStream(60_000, 3_000_000));
  await writer.commitSnapshot(snapshotOf('crm', day(2), { t: kept }, EMPTY));
  const pruner = await reopen(storage, { locks: LIVE });
  open.push(pruner);
  return { writer, pruner, storage, old };
}

const chunkObject = (id: string): string => `data/${id.slice(0, 2)}/${id}`;

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('prune beside running writers', () => {
  it('deletes what forget freed while a writer holds an uncommitted stream, and keeps that stream', async () => {
    const { writer, pruner, storage, old } = await setup();
    // like a stream job between two segments: written, not committed yet
    const pending = await writer.writeStream(crmStream(60_000, 5_000_000));
    expect((await forget(pruner, { keepLast: 1 })).removed).toHaveLength(1);
    const result = await prune(pruner, { graceMs: 0 });
    expect(result.deletedChunks).toBe(new Set(old.chunks).size);
    expect(result.keptHeldChunks).toBe(new Set(pending.chunks).size);
    for (const id of pending.chunks) expect(storage.objects.has(chunkObject(id))).toBe(true);
    await writer.commitSnapshot(snapshotOf('crm', day(3), { t: pending }, EMPTY));
    expect(await verifyRepository(pruner, { readData: true })).toMatchObject({ ok: true });
    // nothing of the protocol is left behind once the prune is over
    expect(storage.keys('notices/')).toEqual([]);
  });

  it('keeps a chunk a writer reused before the prune announced itself', async () => {
    const { writer, pruner, old } = await setup();
    await forget(pruner, { keepLast: 1 });
    // the same content again: every chunk is a dedup hit on a chunk no manifest references now
    const again = await writer.writeStream(crmStream(60_000, 1));
    expect(again.chunks).toEqual(old.chunks);
    const result = await prune(pruner, { graceMs: 0 });
    expect(result.deletedChunks).toBe(0);
    expect(result.keptHeldChunks).toBe(new Set(old.chunks).size);
    await writer.commitSnapshot(snapshotOf('crm', day(3), { t: again }, EMPTY));
    expect(await verifyRepository(pruner, { readData: true })).toMatchObject({ ok: true });
  });

  it('does not reuse a chunk a running prune deletes: the writer waits for it and writes the chunk again', async () => {
    const gated = new GatedBackend();
    const { writer, pruner, old } = await setup(gated);
    await forget(pruner, { keepLast: 1 });
    gated.close();
    const pruning = prune(pruner, { graceMs: 0 });
    // the prune has announced, every holder has acknowledged, and it is deleting
    await gated.deleting;
    const waiting = gated.nextLockListing();
    const again = writer.writeStream(crmStream(60_000, 1));
    // the writer found the chunks condemned and polls the locks until that prune is over (a writer
    // that reused them instead would be done here, and its snapshot would point at deleted chunks)
    await Promise.race([waiting, again]);
    gated.open();
    expect((await pruning).deletedChunks).toBe(new Set(old.chunks).size);
    const ref = await again;
    await writer.commitSnapshot(snapshotOf('crm', day(3), { t: ref }, EMPTY));
    expect(await verifyRepository(pruner, { readData: true })).toMatchObject({ ok: true });
    expect((await collect(pruner.readStream(ref))).equals(await collect(crmStream(60_000, 1)))).toBe(true);
  });

  it('stores the prune lock as exclusive, so versions before the protocol keep away from it', async () => {
    const gated = new GatedBackend();
    const { pruner } = await setup(gated);
    await forget(pruner, { keepLast: 1 });
    gated.close();
    const pruning = prune(pruner, { graceMs: 0 });
    await gated.deleting;
    const bodies = gated.keys('locks/').map((k) => {
      const id = k.slice('locks/'.length);
      const raw = gated.objects.get(k)!.data;
      return JSON.parse(decodeObject(asCrm(pruner).keys, 'lock', id, raw).toString('utf8')) as Record<string, unknown>;
    });
    expect(bodies.filter((b) => b['purpose'] === 'prune')).toMatchObject([{ mode: 'exclusive', protocol: 2 }]);
    gated.open();
    await pruning;
  });
});

describe('prune and locks of other versions', () => {
  it('a prune of an older version (a plain exclusive lock) keeps new writers out', async () => {
    const { writer, pruner, storage } = await setup();
    await writer.close();
    const old = await pruner.lock('exclusive', { purpose: 'prune' });
    const other = await reopen(storage, { locks: LIVE });
    open.push(other);
    await expect(other.writeStream(crmStream(1000, 1))).rejects.toThrow(/locked exclusive by host .* \(prune\)/);
    await old.release();
  });

  it('refuses beside a writer of an older version and names it', async () => {
    const { pruner, storage } = await setup();
    await forget(pruner, { keepLast: 1 });
    const { keys } = asCrm(pruner);
    const now = new Date().toISOString();
    // what an older crm-backup writes: a shared lock without `protocol`
    const body = { host: 'db1', pid: 4242, mode: 'shared', purpose: 'stream of crm', created: now, refreshed: now };
    storage.objects.set('locks/0123456789abcdef0123456789abcdef', {
      data: encodeObject(keys, 'lock', '0123456789abcdef0123456789abcdef', Buffer.from(JSON.stringify(body)), 3),
      modified: new Date(),
    });
    const refused = await prune(pruner, { graceMs: 0 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LockedError);
    expect((refused as Error).message).toMatch(
      /^The repository at memory:\/\/test is locked shared by host db1 pid 4242 \(stream of crm\), a crm-backup older than this one that cannot run beside a prune \(upgrade it\) since \d+ s ago;/,
    );
  });
});

describe('prune beside running readers', () => {
  it('keeps what a restore holds although forget removed its snapshot meanwhile', async () => {
    const { writer, pruner, storage } = await setup();
    await writer.close();
    const reader = await reopen(storage, { locks: LIVE });
    open.push(reader);
    const lock = await reader.lock('shared', { purpose: 'restore' });
    const [chosen] = await reader.listSnapshots();
    const streams = [chosen!.schema, ...chosen!.streams.map((s) => s.data)];
    await lock.hold(streams);
    // forget (keep-last 1) removes the snapshot the restore chose; prune must keep its chunks
    await forget(pruner, { keepLast: 1 });
    const result = await prune(pruner, { graceMs: 0 });
    expect(result.deletedChunks).toBe(0);
    expect(result.keptHeldChunks).toBe(new Set(streams.flatMap((s) => s.chunks)).size);
    expect((await collect(reader.readStream(streams[1]!))).equals(await collect(crmStream(60_000, 1)))).toBe(true);
    await lock.release();
    // once the restore is over they go
    expect((await prune(pruner, { graceMs: 0 })).deletedChunks).toBe(result.keptHeldChunks);
  });

  it('a restore that chose a snapshot a prune then deleted refuses instead of reading a hole', async () => {
    const { writer, pruner, storage } = await setup();
    await writer.close();
    const reader = await reopen(storage, { locks: LIVE });
    open.push(reader);
    const lock = await reader.lock('shared', { purpose: 'restore' });
    const [chosen] = await reader.listSnapshots();
    // the plan is made; before it holds anything, forget and prune run to the end
    await forget(pruner, { keepLast: 1 });
    expect((await prune(pruner, { graceMs: 0 })).deletedChunks).toBeGreaterThan(0);
    await expect(lock.hold([chosen!.schema, ...chosen!.streams.map((s) => s.data)])).rejects.toThrow(
      /^\d+ chunks of what this process was about to read \(first [0-9a-f]{64}\) were deleted by a prune running at the same time, after forget removed the snapshot or log segment they belonged to; run the command again\.$/,
    );
  });
});

describe('a paused writer (its timers do not run; the clock moves past its lock stale age)', () => {
  it('with the default grace period its chunks are kept, and it does not commit once its lock was removed', async () => {
    const { repo: writer, storage } = await newRepo({ ...SMALL_CHUNKS, locks: PAUSED });
    open.push(writer);
    const ref = await writer.writeStream(crmStream(60_000, 7));
    const pruner = await reopen(storage, { locks: LIVE });
    open.push(pruner);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 5000);
    const result = await prune(pruner);
    expect(result).toMatchObject({ removedStaleLocks: 1, deletedChunks: 0, graceMs: 24 * 3600 * 1000 });
    expect(result.keptYoungChunks).toBe(new Set(ref.chunks).size);
    await expect(writer.commitSnapshot(snapshotOf('crm', day(1), { t: ref }, EMPTY))).rejects.toThrow(
      /judged it stale: The lock \w+ disappeared/,
    );
    expect((storage as MemoryBackend).keys('snapshots/')).toEqual([]);
  });

  it('a prune waits for its acknowledgement until the lock is stale, and the writer then commits nothing', async () => {
    const { repo: writer, storage } = await newRepo({ ...SMALL_CHUNKS, locks: PAUSED });
    open.push(writer);
    const ref = await writer.writeStream(crmStream(60_000, 8));
    const mem = storage as MemoryBackend;
    const pruner = await reopen(storage, { locks: LIVE });
    open.push(pruner);
    const pruning = prune(pruner, { graceMs: 0 });
    // announced: it now waits for the paused writer, which cannot answer
    await until(() => mem.keys('notices/').length > 0, 'the notice');
    expect(mem.keys(`data/`).length).toBeGreaterThan(0);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 5000);
    const result = await pruning;
    expect(result.removedStaleLocks).toBe(1);
    expect(result.deletedChunks).toBe(new Set(ref.chunks).size);
    await expect(writer.commitSnapshot(snapshotOf('crm', day(1), { t: ref }, EMPTY))).rejects.toThrow(
      /judged it stale: The lock \w+ disappeared/,
    );
    expect(mem.keys('snapshots/')).toEqual([]);
  });

  it('a writer that wakes while a prune waits for it stops rather than commit: that prune may have judged it stale', async () => {
    const { repo: writer, storage } = await newRepo({ ...SMALL_CHUNKS, locks: PAUSED });
    open.push(writer);
    const mem = storage as MemoryBackend;
    const orphan = await writer.writeStream(crmStream(60_000, 9));
    const pruner = await reopen(storage, { locks: LIVE });
    open.push(pruner);
    vi.useFakeTimers({ toFake: ['Date'] });
    const pruning = prune(pruner, { graceMs: 0 });
    await until(() => mem.keys('notices/').length > 0, 'the notice');
    // past half the writer's stale age (it must re-confirm), not past the pruner's (it still waits)
    vi.setSystemTime(Date.now() + 700);
    await expect(writer.commitSnapshot(snapshotOf('crm', day(1), { t: orphan }, EMPTY))).rejects.toThrow(
      /judged it stale: The repository at memory:\/\/test is locked exclusive by host .* \(prune\)/,
    );
    // the writer gives up and releases its lock: the prune goes on without it
    await writer.close();
    expect((await pruning).deletedChunks).toBe(new Set(orphan.chunks).size);
    expect(mem.keys('snapshots/')).toEqual([]);
  });
});

describe('prune --dry-run', () => {
  it('counts what forget --dry-run would free, takes no lock, deletes nothing, and the real run agrees', async () => {
    const { writer, pruner, storage, old } = await setup();
    const dry = await forget(pruner, { keepLast: 1, dryRun: true });
    const locksBefore = storage.keys('locks/');
    const chunksBefore = storage.keys('data/').length;
    const counted = await prune(pruner, {
      dryRun: true,
      graceMs: 0,
      without: { snapshots: dry.removed.map((r) => r.snapshot.id), segments: [] },
    });
    expect(storage.keys('locks/')).toEqual(locksBefore);
    expect(counted).toMatchObject({ dryRun: true, deletedChunks: new Set(old.chunks).size, keptYoungChunks: 0 });
    expect(counted.deletedBytes).toBeGreaterThan(0);
    expect(storage.keys('data/')).toHaveLength(chunksBefore);
    await forget(pruner, { keepLast: 1 });
    const done = await prune(pruner, { graceMs: 0 });
    expect({ chunks: done.deletedChunks, bytes: done.deletedBytes }).toEqual({
      chunks: counted.deletedChunks,
      bytes: counted.deletedBytes,
    });
    await writer.close();
  });
});
