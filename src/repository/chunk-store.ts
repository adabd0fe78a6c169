/**
 * Stores chunks once: id = keyed hash of the plaintext; skip when the repository already has it (an
 * index listed from storage on first write plus what this process wrote), otherwise compress, encrypt
 * and put create-only (a concurrent writer that won the race stored the same plaintext).
 */
import { RepositoryError, StorageError } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type { ChunkCodec } from './codec-pool.js';
import { hmacHex, type MasterKeys } from './crypto.js';
import { chunkKey, PATHS } from './format.js';
import { Budget } from './limiter.js';

export class ChunkStore {
  private known: Set<string> | undefined;
  private loading: Promise<Set<string>> | undefined;
  private readonly pending = new Map<string, Promise<void>>();
  /** Bytes held by chunks in flight across every concurrent writeStream of this repository. */
  readonly memory: Budget;

  constructor(
    private readonly storage: StorageBackend,
    private readonly keys: MasterKeys,
    private readonly codec: () => ChunkCodec,
    maxInFlightBytes: number,
  ) {
    this.memory = new Budget(maxInFlightBytes);
  }

  /** Lists `data/` once; called after the writer's shared lock is held, so prune cannot remove what it lists. */
  loadIndex(): Promise<Set<string>> {
    this.loading ??= (async () => {
      const ids = new Set<string>();
      for await (const o of this.storage.list(PATHS.data)) {
        const id = o.key.slice(o.key.lastIndexOf('/') + 1);
        if (/^[0-9a-f]{64}$/.test(id)) ids.add(id);
      }
      this.known = ids;
      return ids;
    })();
    return this.loading;
  }

  /** Forgets ids that prune deleted. */
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
      if (known.has(id)) continue;
      await this.pending.get(id);
      if (known.has(id) || (await this.storage.stat(chunkKey(id)))) {
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
    if (known.has(id)) return;
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    const p = (async () => {
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
