/**
 * prune: delete chunks no manifest references, beside running writers and readers (docs/FORMAT.md,
 * "Locks"). It takes a prune lock (older versions see an exclusive one), lists the manifests and the
 * chunks, and picks the unreferenced chunks older than the grace period. It then announces them in a
 * notice, waits until every other lock holder has acknowledged the notice (each first publishes its
 * holds: what it wrote, reused or is about to read), reads those holds and the manifests committed
 * since it listed, and deletes only what none of them needs. A manifest that cannot be read stops
 * prune: without it we cannot know which chunks are still needed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { IntegrityError, LockedError } from '../util/errors.js';
import type { Repository, SegmentManifest, SnapshotManifest } from './repository-api.js';
import { PATHS } from './format.js';
import { asCrm } from './internal.js';
import { type HeldLock, lockHolder, type LockEntry } from './locks.js';
import { decodeManifest } from './manifests.js';
import { protocolOwners, publishNotice, readHolds, removeProtocolObjects } from './notices.js';
import { isNotFound, readObject } from './object-io.js';
import type { CrmRepository } from './repository.js';
import { scanReferences } from './references.js';

/**
 * Unreferenced chunks younger than this are kept. Running jobs are protected by their holds
 * whatever the age; the grace period is the margin for what the protocol cannot see (a store whose
 * listings lag behind its writes, a clock far off) and lets a retried snapshot reuse what the
 * interrupted one stored.
 */
export const DEFAULT_PRUNE_GRACE_MS = 24 * 60 * 60 * 1000;

export interface PruneOptions {
  /** Unreferenced chunks younger than this are kept (default 24 hours). */
  readonly graceMs?: number;
  /** Count what would be deleted; delete nothing and take no lock. */
  readonly dryRun?: boolean;
  /** Dry run only: count as if these manifests were gone (what `forget --dry-run` would remove). */
  readonly without?: { readonly snapshots?: readonly string[]; readonly segments?: readonly string[] };
  readonly signal?: AbortSignal;
}

export interface PruneResult {
  readonly dryRun: boolean;
  /** Deleted, or in a dry run would be deleted. */
  readonly deletedChunks: number;
  readonly deletedBytes: number;
  readonly referencedChunks: number;
  /** Unreferenced but inside the grace period. */
  readonly keptYoungChunks: number;
  /** Unreferenced and old, but held by a running writer or reader, or referenced by a manifest committed meanwhile. */
  readonly keptHeldChunks: number;
  readonly removedStaleLocks: number;
  readonly graceMs: number;
}

export async function prune(repository: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const repo = asCrm(repository);
  const graceMs = opts.graceMs ?? DEFAULT_PRUNE_GRACE_MS;
  if (opts.dryRun) return dryRun(repo, graceMs, opts);
  const lock = await repo.locks.acquire('prune', {
    purpose: 'prune',
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  let announced = false;
  try {
    const removedStaleLocks = await removeLeftovers(repo);
    const scan = await scanReferences(repo.storage, repo.keys, opts.signal);
    refuseUnreadable(scan.unreadable);
    const referenced = new Set(scan.chunks.keys());
    const candidates = await listCandidates(repo, referenced, graceMs, opts.signal);
    let keptHeldChunks = 0;
    const deleted: string[] = [];
    let deletedBytes = 0;
    if (candidates.old.size > 0) {
      announced = true;
      await publishNotice(repo.storage, repo.keys, lock.id, candidates.old.keys());
      const stale = await awaitAcknowledgements(repo, lock, opts.signal);
      const live = new Set((await repo.locks.list()).filter((l) => !l.stale).map((l) => l.id));
      const held = await readHolds(repo.storage, repo.keys, live);
      const since = await newReferences(repo, scan, opts.signal);
      for (const [id, o] of candidates.old) {
        if (held.has(id) || since.has(id)) {
          keptHeldChunks++;
          continue;
        }
        // Stop as soon as we are no longer protected by the lock, paused past its stale age included.
        await lock.confirm();
        await repo.storage.delete(o.key).catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        });
        deleted.push(id);
        deletedBytes += o.size;
      }
      repo.chunks.forget(deleted);
      return result(
        false,
        deleted.length,
        deletedBytes,
        referenced.size,
        candidates.young,
        keptHeldChunks,
        removedStaleLocks + stale,
        graceMs,
      );
    }
    return result(false, 0, 0, referenced.size, candidates.young, 0, removedStaleLocks, graceMs);
  } finally {
    // the notice goes before the lock: a writer waiting for this prune then writes what it needs
    if (announced) await removeProtocolObjects(repo.storage, lock.id).catch(() => {});
    await lock.release();
  }
}

async function dryRun(repo: CrmRepository, graceMs: number, opts: PruneOptions): Promise<PruneResult> {
  const scan = await scanReferences(repo.storage, repo.keys, opts.signal);
  refuseUnreadable(scan.unreadable);
  const goneSnapshots = new Set(opts.without?.snapshots ?? []);
  const goneSegments = new Set(opts.without?.segments ?? []);
  const referenced = referencesOf(
    scan.snapshots.filter((s) => !goneSnapshots.has(s.id)),
    scan.segments.filter((s) => !goneSegments.has(s.id)),
  );
  const candidates = await listCandidates(repo, referenced, graceMs, opts.signal);
  // what running readers hold now (writers publish theirs only while a prune runs)
  const live = new Set((await repo.locks.list()).filter((l) => !l.stale).map((l) => l.id));
  const held = await readHolds(repo.storage, repo.keys, live);
  let bytes = 0;
  let count = 0;
  for (const [id, o] of candidates.old) {
    if (held.has(id)) continue;
    count++;
    bytes += o.size;
  }
  return result(
    true,
    count,
    bytes,
    referenced.size,
    candidates.young,
    candidates.old.size - count,
    0,
    graceMs,
  );
}

function result(
  dryRun: boolean,
  deletedChunks: number,
  deletedBytes: number,
  referencedChunks: number,
  keptYoungChunks: number,
  keptHeldChunks: number,
  removedStaleLocks: number,
  graceMs: number,
): PruneResult {
  return {
    dryRun,
    deletedChunks,
    deletedBytes,
    referencedChunks,
    keptYoungChunks,
    keptHeldChunks,
    removedStaleLocks,
    graceMs,
  };
}

function refuseUnreadable(unreadable: readonly { key: string; error: unknown }[]): void {
  const bad = unreadable[0];
  if (bad) {
    throw new IntegrityError(
      `Prune stopped: the manifest ${bad.key} cannot be read, so it is unknown which chunks it needs; run "crm-backup verify" and repair or remove it first.`,
      { what: bad.key, cause: bad.error },
    );
  }
}

function referencesOf(
  snapshots: readonly SnapshotManifest[],
  segments: readonly SegmentManifest[],
): Set<string> {
  const out = new Set<string>();
  for (const s of snapshots) {
    for (const c of s.schema.chunks) out.add(c);
    for (const t of s.streams) for (const c of t.data.chunks) out.add(c);
  }
  for (const g of segments) for (const c of g.data.chunks) out.add(c);
  return out;
}

/** Unreferenced chunks: older than the grace period (with key and size), and how many younger. */
async function listCandidates(
  repo: CrmRepository,
  referenced: ReadonlySet<string>,
  graceMs: number,
  signal: AbortSignal | undefined,
): Promise<{ old: Map<string, { key: string; size: number }>; young: number }> {
  const cutoff = Date.now() - graceMs;
  const old = new Map<string, { key: string; size: number }>();
  let young = 0;
  for await (const o of repo.storage.list(PATHS.data, { signal })) {
    const id = o.key.slice(o.key.lastIndexOf('/') + 1);
    if (referenced.has(id)) continue;
    if (o.modified.getTime() > cutoff) young++;
    else old.set(id, { key: o.key, size: o.size });
  }
  return { old, young };
}

/**
 * Stale locks go with their holds and notices (a holder that wakes finds its lock gone and stops),
 * and so do holds and notices whose lock is gone. Returns how many locks were removed.
 */
async function removeLeftovers(repo: CrmRepository): Promise<number> {
  // owners first: a lock taken after this listing cannot have published anything listed here
  const owners = await protocolOwners(repo.storage);
  const locks = await repo.locks.list();
  const removed = await repo.locks.removeStale(locks);
  const present = new Set(locks.map((l) => l.id));
  for (const id of owners) if (!present.has(id)) await removeProtocolObjects(repo.storage, id);
  return removed;
}

/**
 * Waits until every other lock holder has acknowledged this prune's notice: after that, whatever it
 * reused before reading the notice is in its published holds, and it reuses nothing the notice
 * names. A holder that goes stale meanwhile is removed (it stops when it wakes); one that keeps
 * refreshing without acknowledging stops the prune before anything is deleted.
 */
async function awaitAcknowledgements(
  repo: CrmRepository,
  lock: HeldLock,
  signal: AbortSignal | undefined,
): Promise<number> {
  const { timing } = repo.locks;
  const limit = Date.now() + timing.staleMs + 4 * repo.locks.noticeMs;
  let removed = 0;
  // this process's own locks acknowledge at once
  await repo.locks.sync().catch(() => {});
  for (;;) {
    await lock.confirm();
    const entries = await repo.locks.list();
    const waiting: LockEntry[] = [];
    for (const l of entries) {
      if (l.id === lock.id) continue;
      if (l.stale) {
        await repo.locks.removeLock(l.id);
        removed++;
      } else if (!l.body?.seen?.includes(lock.id)) waiting.push(l);
    }
    const first = waiting[0];
    if (!first) return removed;
    if (Date.now() > limit) {
      throw new LockedError(
        `Prune stopped before deleting anything: ${lockHolder(first)} holds a lock on the repository at ${repo.storage.location} but did not acknowledge the prune within ${Math.round((timing.staleMs + 4 * repo.locks.noticeMs) / 1000)} s; run prune again when it has finished.`,
      );
    }
    await sleep(repo.locks.pollMs, undefined, signal ? { signal } : {});
  }
}

/** Chunks referenced by manifests committed after `scan` listed them. */
async function newReferences(
  repo: CrmRepository,
  scan: { snapshots: readonly SnapshotManifest[]; segments: readonly SegmentManifest[] },
  signal: AbortSignal | undefined,
): Promise<Set<string>> {
  const known = new Set([...scan.snapshots, ...scan.segments].map((m) => m.id));
  const snapshots: SnapshotManifest[] = [];
  const segments: SegmentManifest[] = [];
  for (const kind of ['snapshot', 'segment'] as const) {
    for await (const o of repo.storage.list(kind === 'snapshot' ? PATHS.snapshots : PATHS.segments, {
      signal,
    })) {
      const id = o.key.slice(o.key.lastIndexOf('/') + 1);
      if (known.has(id)) continue;
      let raw: Uint8Array;
      try {
        raw = await readObject(repo.storage, o.key, signal);
      } catch (e) {
        if (isNotFound(e)) continue; // forgotten again meanwhile
        throw e;
      }
      try {
        if (kind === 'snapshot') snapshots.push(decodeManifest(repo.keys, 'snapshot', id, raw));
        else segments.push(decodeManifest(repo.keys, 'segment', id, raw));
      } catch (e) {
        refuseUnreadable([{ key: o.key, error: e }]);
      }
    }
  }
  return referencesOf(snapshots, segments);
}
