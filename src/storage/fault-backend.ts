/**
 * A decorator that makes a working backend fail on purpose, for tests of the
 * layers above (repository, stream job, retry): fail the Nth put, every put
 * after N, run out of space, break a body half-way, corrupt or drop objects.
 *
 *   const faulty = new FaultInjectionBackend(await LocalBackend.open(dir));
 *   faulty.inject({ op: 'put', nth: 3, error: 'no-space' });
 *   faulty.corruptReads('data/');
 */
import { AbortError, StorageError } from '../util/errors.js';
import { chunksOf, type PutBody } from './body.js';
import type { ObjectInfo, PutOptions, StorageBackend } from './storage-backend.js';

export type FaultOp = 'put' | 'get' | 'list' | 'delete' | 'stat';

/** `transient` is retryable, `permanent` is not, `no-space` is a full disk, or a custom error to throw. */
export type FaultKind = 'transient' | 'permanent' | 'no-space' | Error;

export interface FaultRule {
  readonly op: FaultOp;
  /** Only calls whose key (list: prefix) starts with this count and fail. */
  readonly keyPrefix?: string;
  /** Fail only the nth matching call, 1-based. */
  readonly nth?: number;
  /** Let the first `after` matching calls through, then fail every one. */
  readonly after?: number;
  /** Fail at most this many times (with `after`, or alone from the first call). */
  readonly times?: number;
  readonly error?: FaultKind;
  /**
   * put: consume this many body bytes, then fail (the inner backend gets a body that breaks, so a
   * partial object would show if the backend were not atomic). get: yield this many bytes, then fail.
   */
  readonly afterBytes?: number;
}

interface ActiveRule {
  readonly rule: FaultRule;
  seen: number;
  fired: number;
}

export class FaultInjectionBackend implements StorageBackend {
  readonly location: string;
  readonly inner: StorageBackend;
  /** Calls per operation, counted before any fault, for assertions. */
  readonly calls: Record<FaultOp, number> = { put: 0, get: 0, list: 0, delete: 0, stat: 0 };
  #rules: ActiveRule[] = [];
  #corrupt: string[] = [];
  #losePuts: string[] = [];

  constructor(inner: StorageBackend) {
    this.inner = inner;
    this.location = inner.location;
  }

  inject(rule: FaultRule): this {
    this.#rules.push({ rule, seen: 0, fired: 0 });
    return this;
  }

  /** Flips one bit in the first byte of every read of a key under `keyPrefix` (whole or ranged). */
  corruptReads(keyPrefix = ''): this {
    this.#corrupt.push(keyPrefix);
    return this;
  }

  /** Puts under `keyPrefix` report success but store nothing: a lost write. */
  losePuts(keyPrefix = ''): this {
    this.#losePuts.push(keyPrefix);
    return this;
  }

  /** Deletes an object behind the back of the code under test. */
  async dropObject(key: string): Promise<void> {
    await this.inner.delete(key);
  }

  /** Removes every rule; counters stay. */
  heal(): this {
    this.#rules = [];
    this.#corrupt = [];
    this.#losePuts = [];
    return this;
  }

  /** The rule that fires for this call, if any; counts the call against every matching rule. */
  #fault(op: FaultOp, key: string): FaultRule | undefined {
    this.calls[op]++;
    let firing: FaultRule | undefined;
    for (const a of this.#rules) {
      const r = a.rule;
      if (r.op !== op || !key.startsWith(r.keyPrefix ?? '')) continue;
      a.seen++;
      const due = r.nth !== undefined ? a.seen === r.nth : a.seen > (r.after ?? 0);
      if (due && (r.times === undefined || a.fired < r.times) && firing === undefined) {
        a.fired++;
        firing = r;
      }
    }
    return firing;
  }

  #error(rule: FaultRule, op: FaultOp, key: string): Error {
    const kind = rule.error ?? 'transient';
    if (kind instanceof Error) return kind;
    if (kind === 'no-space') {
      return new StorageError(`Injected fault: no space left to ${op} ${key}.`, {
        key,
        permanent: true,
        reason: 'no-space',
      });
    }
    return new StorageError(`Injected ${kind} fault in ${op} of ${key}.`, {
      key,
      permanent: kind === 'permanent',
    });
  }

  async put(key: string, body: PutBody, opts?: PutOptions): Promise<void> {
    const rule = this.#fault('put', key);
    if (rule && rule.afterBytes === undefined) throw this.#error(rule, 'put', key);
    if (this.#losePuts.some((p) => key.startsWith(p))) {
      for await (const _ of chunksOf(body)) {
        // drain it as a real write would
      }
      return;
    }
    if (rule) {
      // Hand the inner backend a body that breaks part-way, then report the injected error.
      const err = this.#error(rule, 'put', key);
      await this.inner
        .put(key, breakAfter(chunksOf(body), rule.afterBytes ?? 0, err), opts)
        .catch((e: unknown) => {
          if (e !== err && !(e instanceof AbortError)) throw e;
        });
      throw err;
    }
    return this.inner.put(key, body, opts);
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    opts?: { signal?: AbortSignal },
  ): Promise<AsyncIterable<Uint8Array>> {
    const rule = this.#fault('get', key);
    if (rule && rule.afterBytes === undefined) throw this.#error(rule, 'get', key);
    let stream = await this.inner.get(key, range, opts);
    if (this.#corrupt.some((p) => key.startsWith(p))) stream = flipFirstBit(stream);
    if (rule) stream = breakAfter(stream, rule.afterBytes ?? 0, this.#error(rule, 'get', key));
    return stream;
  }

  async *list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo> {
    const rule = this.#fault('list', prefix);
    if (rule) throw this.#error(rule, 'list', prefix);
    yield* this.inner.list(prefix, opts);
  }

  async delete(key: string): Promise<void> {
    const rule = this.#fault('delete', key);
    if (rule) throw this.#error(rule, 'delete', key);
    return this.inner.delete(key);
  }

  async stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    const rule = this.#fault('stat', key);
    if (rule) throw this.#error(rule, 'stat', key);
    return this.inner.stat(key);
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}

/** Passes `limit` bytes through, then throws `err`. */
async function* breakAfter(
  chunks: AsyncIterable<Uint8Array>,
  limit: number,
  err: Error,
): AsyncIterable<Uint8Array> {
  let left = limit;
  for await (const c of chunks) {
    if (c.length >= left) {
      if (left > 0) yield c.subarray(0, left);
      throw err;
    }
    left -= c.length;
    yield c;
  }
  throw err;
}

async function* flipFirstBit(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let done = false;
  for await (const c of chunks) {
    if (!done && c.length > 0) {
      // A copy: the inner backend's buffer may be shared.
      const copy = Uint8Array.from(c);
      copy[0] = (copy[0] ?? 0) ^ 0x01;
      done = true;
      yield copy;
    } else yield c;
  }
}
