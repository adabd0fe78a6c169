/**
 * Stores chunks once: id = keyed hash of the plaintext; skip when the repository already has it (an
 * index listed from storage on first write plus what this process wrote), otherwise compress, encrypt
 * and put create-only (a concurrent writer that won the race stored the same plaintext).
 *
 * Beside a running prune (docs/FORMAT.md, "Locks"): every chunk written or reused is held until a
 * manifest that references it is committed, and a chunk a prune announced it deletes is never
 * reused: it is written again once that prune is over.
 */
import { RepositoryError, StorageError } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type { ChunkCodec } from './codec-pool.js';
import { hmacHex, type MasterKeys } from './crypto.js';
import { chunkKey, PATHS } from './format.js';
import { Budget } from './limiter.js';
import type { HoldSource } from './locks.js';

/** What the chunk store learns from the lock manager about running prunes. */
export interface PruneWatch {
  /** The prune (its lock id) that announced it deletes this chunk, if any. */
  condemnedBy(id: string): string | undefined;
  waitForPrune(pruneId: string, signal?: AbortSignal): Promise<void>;
}

export class ChunkStore {
  private known: Set<string> | undefined;
  private loading: Promise<Set<string>> | undefined;
  private readonly pending = new Map<string, Promise<void>>();
  /** Bytes held by chunks in flight across every concurrent writeStream of this repository. */
  readonly memory: Budget;
  /** Chunks written or reused, by how many stream positions not yet committed reference them. */
  private readonly holding = new Map<string, number>();
  private holdVersion = 0;
  /** Held chunks a prune announced while they were held: it read our holds, so it keeps them. */
  private readonly safe = new Set<string>();

  constructor(
    private readonly storage: StorageBackend,
    private readonly keys: MasterKeys,
    private readonly codec: () => ChunkCodec,
    maxInFlightBytes: number,
    private readonly prunes?: PruneWatch,
  ) {
    this.memory = new Budget(maxInFlightBytes);
  }

  /** The held chunks, as the write lock publishes them while a prune runs. */
  readonly holds: HoldSource = ((store: ChunkStore) => ({
    get ids(): Iterable<string> {
      return store.holding.keys();
    },
    get version(): number {
      return store.holdVersion;
    },
  }))(this);

  /**
   * A prune's notice was read (in the same step as the holds published with its acknowledgement):
   * chunks held now are in those holds, so that prune keeps them; the others are not reused.
   */
  onNotice(chunks: ReadonlySet<string>): void {
    for (const id of chunks) {
      if (this.holding.has(id)) this.safe.add(id);
      else this.known?.delete(id);
    }
  }

  /** After a manifest is committed: its chunks are referenced now, held no longer on its account. */
  release(ids: readonly string[]): void {
    for (const id of ids) {
      const n = (this.holding.get(id) ?? 0) - 1;
      if (n > 0) this.holding.set(id, n);
      else {
        this.holding.delete(id);
        this.safe.delete(id);
      }
    }
    this.holdVersion++;
  }

  private hold(id: string): void {
    this.holding.set(id, (this.holding.get(id) ?? 0) + 1);
    this.holdVersion++;
  }

  /** The running prune that deletes `id` and does not know this process holds it, if any. */
  private condemned(id: string): string | undefined {
    return this.safe.has(id) ? undefined : this.prunes?.condemnedBy(id);
  }

  /** Lists `data/` once; called after the writer's shared lock is held, so prune cannot remove what it lists. */
  loadIndex(): Promise<Set<string>> {
    this.loading ??= (async () => {
      const ids = new Set<string>();
      for await (const o of this.storage.list(PATHS.data)) {
        const id = o.key.slice(o.key.lastIndexOf('/') + 1);
        if (/^[0-9a-f]{64}$/.test(id)) ids.add(id);
      }
      // a prune announced while we listed: its chunks are not there to reuse
      for (const id of ids) if (this.condemned(id)) ids.delete(id);
      this.known = ids;
      return ids;
    })();
    return this.loading;
  }

  /** Forgets ids that a prune deleted or announced it deletes. */
  forget(ids: Iterable<string>): void {
    for (const id of ids) this.known?.delete(id);
  }

  /**
   * Before a manifest commits: every chunk it references must be in storage. Ids this process wrote or
   * listed are known; anything else is checked with a stat, so a manifest never points at nothing.
   */
  async ensurePresent(ids: readonly string[]): Promise<void> {
    const known = await this.loadIndex();
    for (const id of new Set(ids)) {
      if (known.has(id) && !this.condemned(id)) continue;
      await this.pending.get(id);
      if (known.has(id) && !this.condemned(id)) continue;
      // written by another process: hold it before looking, so a prune that starts now keeps it
      this.hold(id);
      const prune = this.condemned(id);
      if (prune) await this.prunes?.waitForPrune(prune);
      if (await this.storage.stat(chunkKey(id))) {
        known.add(id);
        continue;
      }
      throw new RepositoryError(
        `Refusing to commit a manifest that references chunk ${id}, which is not in the repository at ${this.storage.location}; write the stream again.`,
      );
    }
  }

  idOf(data: Uint8Array): string {
    return hmacHex(this.keys.idKey, data);
  }

  /** Stores `data` under `id` unless present. Takes ownership of `data` (it may be transferred to a worker). */
  async store(id: string, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    const known = await this.loadIndex();
    // Held, and what running prunes delete looked up, in one step: a sync of the lock manager
    // either publishes this hold or has told us of the prune before we rely on the chunk.
    this.hold(id);
    const prune = this.condemned(id);
    if (known.has(id) && !prune) return;
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    const p = (async () => {
      if (prune) await this.prunes?.waitForPrune(prune, signal);
      const object = await this.codec().encode(id, data);
      try {
        await this.storage.put(chunkKey(id), object, { ifAbsent: true, signal });
      } catch (e) {
        if (!(e instanceof StorageError && e.reason === 'exists')) throw e;
      }
      known.add(id);
    })();
    this.pending.set(id, p);
    try {
      await p;
    } finally {
      this.pending.delete(id);
    }
  }
}
