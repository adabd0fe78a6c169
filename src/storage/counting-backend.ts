/**
 * Counts what is written through it (objects put and their bytes, objects deleted), passing every
 * call on unchanged: copy reports what the destination took, and its tests show that a run with
 * nothing to copy writes nothing.
 */
import { isReplayable, replayableBody } from './body.js';
import type { ObjectInfo, PutOptions, StorageBackend } from './storage-backend.js';

export interface WriteCounts {
  readonly objects: number;
  readonly bytes: number;
  readonly deletes: number;
}

export class CountingBackend implements StorageBackend {
  readonly location: string;
  #objects = 0;
  #bytes = 0;
  #deletes = 0;

  constructor(readonly inner: StorageBackend) {
    this.location = inner.location;
  }

  counts(): WriteCounts {
    return { objects: this.#objects, bytes: this.#bytes, deletes: this.#deletes };
  }

  async put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void> {
    let size = body instanceof Uint8Array ? body.length : 0;
    // each attempt of a retried put reads the body again: the last one's count is what was stored
    const count = async function* (stream: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
      size = 0;
      for await (const piece of stream) {
        size += piece.length;
        yield piece;
      }
    };
    const counted =
      body instanceof Uint8Array ? body : isReplayable(body) ? replayableBody(() => count(body)) : count(body);
    await this.inner.put(key, counted, opts);
    this.#objects++;
    this.#bytes += size;
  }

  get(
    key: string,
    range?: { offset: number; length: number },
    opts?: { signal?: AbortSignal },
  ): Promise<AsyncIterable<Uint8Array>> {
    return this.inner.get(key, range, opts);
  }

  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts);
  }

  async delete(key: string): Promise<void> {
    await this.inner.delete(key);
    this.#deletes++;
  }

  stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    return this.inner.stat(key);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
