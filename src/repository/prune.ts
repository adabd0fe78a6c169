/**
 * prune: delete chunks no manifest references. Under the exclusive lock, so no writer is active; and
 * only chunks older than the grace period, so chunks of a writer whose lock went stale (or a clock or
 * listing lag) that a manifest is about to reference survive. A manifest that cannot be read stops
 * prune: without it we cannot know which chunks are still needed.
 */
import { IntegrityError } from '../util/errors.js';
import type { Repository } from './repository-api.js';
import { PATHS } from './format.js';
import { asCrm } from './internal.js';
import { scanReferences } from './references.js';
import { isNotFound } from './object-io.js';

export const DEFAULT_PRUNE_GRACE_MS = 60 * 60 * 1000;

export interface PruneOptions {
  /** Unreferenced chunks younger than this are kept (default 1 hour). */
  readonly graceMs?: number;
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

export interface PruneResult {
  readonly deletedChunks: number;
  readonly deletedBytes: number;
  readonly referencedChunks: number;
  /** Unreferenced but inside the grace period. */
  readonly keptYoungChunks: number;
  readonly removedStaleLocks: number;
}

export async function prune(repository: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const repo = asCrm(repository);
  const grace = opts.graceMs ?? DEFAULT_PRUNE_GRACE_MS;
  const lock = await repo.lock('exclusive', { purpose: 'prune', ...(opts.signal ? { signal: opts.signal } : {}) });
  try {
    const removedStaleLocks = opts.dryRun ? 0 : await repo.locks.removeStale();
    const scan = await scanReferences(repo.storage, repo.keys, opts.signal);
    const bad = scan.unreadable[0];
    if (bad) {
      throw new IntegrityError(
        `Prune stopped: the manifest ${bad.key} cannot be read, so it is unknown which chunks it needs; run "crm-backup verify" and repair or remove it first.`,
        { what: bad.key, cause: bad.error },
      );
    }
    const cutoff = Date.now() - grace;
    const deleted: string[] = [];
    let deletedBytes = 0;
    let young = 0;
    for await (const o of repo.storage.list(PATHS.data, { signal: opts.signal })) {
      const id = o.key.slice(o.key.lastIndexOf('/') + 1);
      if (scan.chunks.has(id)) continue;
      if (o.modified.getTime() > cutoff) {
        young++;
        continue;
      }
      // Stop as soon as we are no longer protected by the lock, paused past its stale age included:
      // a writer that came in meanwhile may have committed a manifest that needs this chunk.
      await lock.confirm();
      if (!opts.dryRun) {
        await repo.storage.delete(o.key).catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        });
      }
      deleted.push(id);
      deletedBytes += o.size;
    }
    if (!opts.dryRun) repo.chunks.forget(deleted);
    return { deletedChunks: deleted.length, deletedBytes, referencedChunks: scan.chunks.size, keptYoungChunks: young, removedStaleLocks };
  } finally {
    await lock.release();
  }
}
