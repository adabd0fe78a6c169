/**
 * The Repository implementation: wires keys, chunk store, codec pool, manifests and locks together.
 * Writers take a shared lock automatically on their first write and keep it until close(), and the
 * chunk index is listed only after that lock is held. A prune may run meanwhile: the write lock
 * publishes what the chunk store holds (written or reused, not yet committed) when a prune
 * announces itself, and the chunk store reuses nothing that prune deletes (docs/FORMAT.md, "Locks").
 */
import { availableParallelism } from 'node:os';
import { RepositoryError } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type {
  DrillRecord,
  NewDrill,
  NewSegment,
  NewSnapshot,
  Repository,
  RepositoryLock,
  SegmentManifest,
  SnapshotManifest,
  StreamRef,
  WriteStreamOptions,
} from './repository-api.js';
import { ChunkStore } from './chunk-store.js';
import { gearTable } from './chunker.js';
import { createChunkCodec, type ChunkCodec } from './codec-pool.js';
import type { RepositoryConfig } from './config.js';
import type { MasterKeys } from './crypto.js';
import type { ScryptParams } from './keys.js';
import { DEFAULT_LOCK_TIMING, LockManager, type LockTiming, type StreamLockInfo } from './locks.js';
import { ManifestCatalog } from './catalog.js';
import { readChunkedStream } from './stream-reader.js';
import { writeChunkedStream } from './stream-writer.js';
import type { ChunkerParams } from './format.js';

export interface RepositoryOptions {
  /** zstd level for chunks and manifests (default 3). */
  readonly zstdLevel?: number;
  /** init/addKey only: scrypt cost; default calibrated to ~0.4 s. Tests pass cheap values. */
  readonly scrypt?: ScryptParams;
  /** init only: chunk sizes (default 256 KiB / 1 MiB / 4 MiB). */
  readonly chunker?: Partial<ChunkerParams>;
  /** init only: label of the first key. */
  readonly keyLabel?: string;
  /** Chunks of one writeStream being compressed/uploaded at once (default 4). */
  readonly inFlightChunks?: number;
  /** Plaintext bytes in flight across all concurrent writeStreams (default 64 MiB). */
  readonly maxInFlightBytes?: number;
  /** Codec worker threads; 0 compresses and encrypts on the main thread (default CPUs - 1, between 1 and 4). */
  readonly workers?: number;
  /** Chunks readStream fetches ahead (default 4). */
  readonly readAhead?: number;
  readonly locks?: Partial<LockTiming>;
}

export class CrmRepository implements Repository {
  readonly location: string;
  readonly id: string;
  readonly locks: LockManager;
  readonly chunks: ChunkStore;
  readonly catalog: ManifestCatalog;
  private readonly gear: Int32Array;
  private codecInstance: ChunkCodec | undefined;
  private writeLock: Promise<RepositoryLock> | undefined;
  private closed = false;

  constructor(
    readonly storage: StorageBackend,
    readonly keys: MasterKeys,
    readonly config: RepositoryConfig,
    readonly keyId: string,
    readonly opts: RepositoryOptions,
  ) {
    this.location = storage.location;
    this.id = config.id;
    this.gear = gearTable(keys.idKey);
    this.locks = new LockManager(storage, keys, { ...DEFAULT_LOCK_TIMING, ...opts.locks });
    this.chunks = new ChunkStore(
      storage,
      keys,
      () => this.codec(),
      opts.maxInFlightBytes ?? 64 * 1024 * 1024,
      {
        condemnedBy: (id) => this.locks.notices.condemnedBy(id),
        waitForPrune: (prune, signal) => this.locks.waitForPrune(prune, signal),
      },
    );
    this.locks.notices.onNotice((ids) => this.chunks.onNotice(ids));
    this.catalog = new ManifestCatalog(storage, keys, opts.zstdLevel ?? 3);
  }

  /** The codec pool starts on first use: opening a repository just to list snapshots spawns no threads. */
  codec(): ChunkCodec {
    this.assertOpen();
    this.codecInstance ??= createChunkCodec(this.keys, {
      // The main thread is busy too (reading, chunking, hashing, I/O): one CPU is left to it.
      workers: this.opts.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1)),
      level: this.opts.zstdLevel ?? 3,
    });
    return this.codecInstance;
  }

  async writeStream(data: AsyncIterable<Uint8Array>, opts: WriteStreamOptions = {}): Promise<StreamRef> {
    const lock = await this.ensureWriteLock();
    await this.chunks.loadIndex();
    return writeChunkedStream(
      {
        store: this.chunks,
        params: this.config.chunker,
        gear: this.gear,
        inFlight: this.opts.inFlightChunks ?? 4,
      },
      data,
      { ...opts, lockSignal: lock.signal },
    );
  }

  readStream(
    ref: StreamRef,
    opts: { signal?: AbortSignal; context?: string } = {},
  ): AsyncIterable<Uint8Array> {
    return readChunkedStream(
      { storage: this.storage, codec: this.codec(), readAhead: this.opts.readAhead ?? 4, checkIds: false },
      ref,
      opts,
    );
  }

  async commitSnapshot(m: NewSnapshot): Promise<string> {
    await this.ensureWriteLock();
    await this.chunks.ensurePresent([m.schema, ...m.streams.map((s) => s.data)].flatMap((r) => r.chunks));
    // a prune that ran while this process was paused may have taken chunks the index still lists
    await this.locks.confirmHeld();
    const id = await this.catalog.putSnapshot(m);
    // referenced by a manifest now: a prune keeps them without our holds
    this.chunks.release([m.schema, ...m.streams.map((s) => s.data)].flatMap((r) => r.chunks));
    return id;
  }

  async commitSegment(m: NewSegment): Promise<string> {
    await this.ensureWriteLock();
    await this.chunks.ensurePresent(m.data.chunks);
    await this.locks.confirmHeld();
    const id = await this.catalog.putSegment(m);
    this.chunks.release(m.data.chunks);
    return id;
  }

  listSnapshots(filter: { source?: string } = {}): Promise<SnapshotManifest[]> {
    return this.catalog.snapshots(filter.source);
  }

  listSegments(source: string): Promise<SegmentManifest[]> {
    return this.catalog.segments(source);
  }

  /** A drill record references no chunk: no write lock, nothing for a prune to keep. */
  commitDrill(d: NewDrill): Promise<string> {
    this.assertOpen();
    return this.catalog.putDrill(d);
  }

  listDrills(filter: { source?: string } = {}): Promise<DrillRecord[]> {
    return this.catalog.drills(filter.source);
  }

  sources(): Promise<string[]> {
    return this.catalog.sources();
  }

  lock(
    mode: 'shared' | 'exclusive',
    opts: { signal?: AbortSignal; purpose?: string; stream?: StreamLockInfo } = {},
  ): Promise<RepositoryLock> {
    this.assertOpen();
    return this.locks.acquire(mode, opts);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.locks.releaseAll();
    } finally {
      await this.codecInstance?.close();
    }
  }

  private ensureWriteLock(): Promise<RepositoryLock> {
    this.assertOpen();
    if (!this.writeLock) {
      const p = this.locks.acquire('shared', { purpose: 'write', holds: this.chunks.holds });
      // A failed acquisition is not cached: the next write tries again.
      p.catch(() => {
        if (this.writeLock === p) this.writeLock = undefined;
      });
      this.writeLock = p;
    }
    return this.writeLock;
  }

  private assertOpen(): void {
    if (this.closed)
      throw new RepositoryError(`The repository at ${this.location} was closed; open it again to use it.`);
  }
}
