/**
 * Chunk compression and encryption off the main thread. zstd and AES-GCM in node are synchronous, so on
 * the main thread they would serialise with chunking, hashing and I/O; a small worker pool lets chunk n
 * be compressed while chunk n+1 is cut and chunk n-1 is uploaded. `workers: 0` runs inline (tests, tiny jobs).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { decodeAddressed, decodeObject, encodeObject, zstdParameters } from './codec.js';
import { ObjectDamage, type MasterKeys } from './crypto.js';
import { CODEC_WORKER_SOURCE } from './codec-worker-source.js';
import {
  COMPRESSION,
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  HEADER_LEN,
  MAGIC_LEN,
  NONCE_LEN,
  OBJECT_TYPE,
  TAG_LEN,
} from './format.js';

export interface ChunkCodec {
  /** Compresses and seals a chunk. May take ownership of (detach) `data`. */
  encode(id: string, data: Uint8Array): Promise<Uint8Array>;
  /**
   * Unseals and decompresses; rejects with ObjectDamage. May take ownership of `object`. The GCM
   * tag covers the id (AAD), so a modified object or one stored under another id always fails;
   * `checkId` also recomputes the id from the plaintext (verify does, restores need not).
   */
  decode(id: string, object: Uint8Array, opts?: { checkId?: boolean }): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function createChunkCodec(keys: MasterKeys, opts: { workers: number; level: number }): ChunkCodec {
  return opts.workers > 0
    ? new WorkerCodec(keys, opts.workers, opts.level)
    : new InlineCodec(keys, opts.level);
}

class InlineCodec implements ChunkCodec {
  constructor(
    private readonly keys: MasterKeys,
    private readonly level: number,
  ) {}
  async encode(id: string, data: Uint8Array): Promise<Uint8Array> {
    return encodeObject(this.keys, 'chunk', id, data, this.level);
  }
  async decode(id: string, object: Uint8Array, opts?: { checkId?: boolean }): Promise<Uint8Array> {
    return opts?.checkId === false
      ? decodeObject(this.keys, 'chunk', id, object)
      : decodeAddressed(this.keys, 'chunk', id, object);
  }
  async close(): Promise<void> {}
}

interface Job {
  resolve(v: Uint8Array): void;
  reject(e: Error): void;
}
interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
}
interface Reply {
  job: number;
  data?: Uint8Array;
  error?: string;
  fatal?: string;
}

class WorkerCodec implements ChunkCodec {
  private readonly slots: Slot[] = [];
  private nextJob = 1;
  private broken: Error | undefined;

  constructor(
    keys: MasterKeys,
    count: number,
    private readonly level: number,
  ) {
    const workerData = {
      zstdPath: createRequire(import.meta.url).resolve('zstd-napi'),
      // codec.ts's tuning, for the levels a repository can be configured with (zstd's 1..22)
      zstdParameters: Object.fromEntries(
        Array.from({ length: 22 }, (_, i) => [i + 1, zstdParameters(i + 1)]),
      ),
      encKey: keys.encKey,
      idKey: keys.idKey,
      format: {
        magic: ENVELOPE_MAGIC,
        magicLen: MAGIC_LEN,
        version: ENVELOPE_VERSION,
        typeChunk: OBJECT_TYPE.chunk,
        none: COMPRESSION.none,
        zstd: COMPRESSION.zstd,
        headerLen: HEADER_LEN,
        nonceLen: NONCE_LEN,
        tagLen: TAG_LEN,
      },
    };
    for (let i = 0; i < count; i++) {
      const worker = new Worker(CODEC_WORKER_SOURCE, { eval: true, workerData });
      const slot: Slot = { worker, jobs: new Map() };
      // An idle pool must not keep the process alive; a busy one must (the caller awaits its replies).
      worker.unref();
      worker.on('message', (r: Reply) => this.settle(slot, r));
      worker.on('error', (e) => this.fail(slot, e));
      worker.on('exit', (code) => this.fail(slot, new Error(`codec worker exited with code ${code}`)));
      this.slots.push(slot);
    }
  }

  encode(id: string, data: Uint8Array): Promise<Uint8Array> {
    return this.run('encode', id, data);
  }
  decode(id: string, object: Uint8Array, opts?: { checkId?: boolean }): Promise<Uint8Array> {
    return this.run(opts?.checkId === false ? 'decode' : 'decode-check', id, object);
  }

  async close(): Promise<void> {
    this.broken ??= new Error('the chunk codec is closed');
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private run(op: 'encode' | 'decode' | 'decode-check', id: string, data: Uint8Array): Promise<Uint8Array> {
    if (this.broken) return Promise.reject(this.broken);
    let slot = this.slots[0] as Slot;
    for (const s of this.slots) if (s.jobs.size < slot.jobs.size) slot = s;
    const job = this.nextJob++;
    return new Promise<Uint8Array>((resolve, reject) => {
      if (slot.jobs.size === 0) slot.worker.ref();
      slot.jobs.set(job, { resolve, reject });
      // Transfer only buffers we own entirely; a view into a shared or pooled buffer is copied instead.
      const transferable =
        data.byteOffset === 0 &&
        data.byteLength === data.buffer.byteLength &&
        data.buffer instanceof ArrayBuffer;
      slot.worker.postMessage(
        { op, job, id, data, level: this.level },
        transferable ? [data.buffer as ArrayBuffer] : [],
      );
    });
  }

  private settle(slot: Slot, r: Reply): void {
    const job = slot.jobs.get(r.job);
    if (!job) return;
    slot.jobs.delete(r.job);
    if (slot.jobs.size === 0) slot.worker.unref();
    if (r.data) job.resolve(r.data);
    else if (r.error !== undefined) job.reject(new ObjectDamage(r.error));
    else job.reject(new Error(`codec worker failed: ${r.fatal ?? 'unknown error'}`));
  }

  private fail(slot: Slot, e: Error): void {
    this.broken ??= e;
    for (const job of slot.jobs.values()) job.reject(e);
    slot.jobs.clear();
  }
}
