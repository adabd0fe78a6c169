/**
 * Retries non-permanent StorageErrors with exponential backoff and jitter.
 *
 * Which calls are retried:
 * - get, stat, delete: always (they have no body).
 * - list: only until the first object has been yielded; after that a retry would repeat objects.
 * - put: only when the body can be read again: a Uint8Array, or a `replayableBody(factory)`.
 *   A plain AsyncIterable is consumed by the first attempt, so its put is tried once.
 *   (Buffering it would break "memory bounded by configuration"; the S3 backend retries
 *   the single parts it holds anyway.)
 * - A get stream that breaks part-way is resumed from the first byte not yet delivered.
 *
 * A create-only put whose attempt failed ambiguously (timeout after the store stored it) would
 * see `exists` on the retry and report losing a race it won. When a retry gets `exists`, the
 * stored object is compared with our body; if they are equal the put succeeded.
 */
import { createHash } from 'node:crypto';
import { StorageError } from '../util/errors.js';
import { isReplayable, type PutBody } from './body.js';
import { backoffDelay, DEFAULT_RETRY, isRetryable, type RetryPolicy, sleep, withRetry } from './retry.js';
import type { ObjectInfo, PutOptions, StorageBackend } from './storage-backend.js';

export interface RetryBackendOptions extends RetryPolicy {
  /** Stops waiting between attempts for calls that take no signal of their own (delete, stat). */
  readonly signal?: AbortSignal;
}

export class RetryBackend implements StorageBackend {
  readonly location: string;
  readonly inner: StorageBackend;
  readonly #opts: RetryBackendOptions;

  constructor(inner: StorageBackend, opts: RetryBackendOptions = {}) {
    this.inner = inner;
    this.location = inner.location;
    this.#opts = opts;
  }

  #signal(own: AbortSignal | undefined): AbortSignal | undefined {
    const shared = this.#opts.signal;
    if (own && shared) return AbortSignal.any([own, shared]);
    return own ?? shared;
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
    const signal = this.#signal(opts.signal);
    const inner = { ...opts, ...(signal ? { signal } : {}) };
    if (!isReplayable(body)) return this.inner.put(key, body, inner);
    let failedBefore = false;
    return withRetry('put', key, this.#opts, signal, async () => {
      try {
        await this.inner.put(key, body, inner);
      } catch (e) {
        if (opts.ifAbsent && failedBefore && e instanceof StorageError && e.reason === 'exists') {
          if (await this.#storedEquals(key, body, signal)) return;
        }
        failedBefore = true;
        throw e;
      }
    });
  }

  async #storedEquals(key: string, body: PutBody, signal: AbortSignal | undefined): Promise<boolean> {
    const digest = async (chunks: AsyncIterable<Uint8Array>): Promise<string> => {
      const h = createHash('sha256');
      for await (const c of chunks) h.update(c);
      return h.digest('hex');
    };
    const ours =
      body instanceof Uint8Array ? createHash('sha256').update(body).digest('hex') : await digest(body);
    const stored = await digest(await this.inner.get(key, undefined, signal ? { signal } : {}));
    return ours === stored;
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    opts: { signal?: AbortSignal } = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    const signal = this.#signal(opts.signal);
    const o = signal ? { signal } : {};
    const stream = await withRetry('get', key, this.#opts, signal, () => this.inner.get(key, range, o));
    return this.#resuming(stream, key, range, signal);
  }

  /**
   * Passes a get stream through; when it breaks with a retryable error, asks for the rest
   * (a range starting after the bytes already delivered) instead of failing a long read.
   * Safe because repository objects are written once under content-derived names, and every
   * byte is authenticated above this layer, so a swapped object cannot pass unnoticed.
   */
  async *#resuming(
    first: AsyncIterable<Uint8Array>,
    key: string,
    range: { offset: number; length: number } | undefined,
    signal: AbortSignal | undefined,
  ): AsyncIterable<Uint8Array> {
    const attempts = Math.max(1, this.#opts.attempts ?? DEFAULT_RETRY.attempts);
    let stream = first;
    let delivered = 0;
    for (let resumes = 0; ;) {
      try {
        for await (const chunk of stream) {
          delivered += chunk.length;
          yield chunk;
        }
        return;
      } catch (e) {
        if (!isRetryable(e) || ++resumes >= attempts) throw e;
        const delayMs = backoffDelay(this.#opts, resumes);
        this.#opts.onRetry?.({ op: 'get (resume)', key, attempt: resumes, delayMs, error: e });
        await sleep(delayMs, signal);
        const offset = (range?.offset ?? 0) + delivered;
        const length = range ? range.length - delivered : Number.MAX_SAFE_INTEGER - offset;
        if (length <= 0) return;
        stream = await this.inner.get(key, { offset, length }, signal ? { signal } : {});
      }
    }
  }

  async *list(prefix: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    const signal = this.#signal(opts.signal);
    // Only the start of the listing (up to its first object) is retried.
    const iterator = await withRetry('list', undefined, this.#opts, signal, async () => {
      const it = this.inner.list(prefix, signal ? { signal } : {})[Symbol.asyncIterator]();
      const first = await it.next();
      return { it, first };
    });
    try {
      let r = iterator.first;
      while (!r.done) {
        yield r.value;
        r = await iterator.it.next();
      }
    } finally {
      // Lets the inner listing release what it holds when our caller stops early.
      await iterator.it.return?.();
    }
  }

  delete(key: string): Promise<void> {
    return withRetry('delete', key, this.#opts, this.#opts.signal, () => this.inner.delete(key));
  }

  stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    return withRetry('stat', key, this.#opts, this.#opts.signal, () => this.inner.stat(key));
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
