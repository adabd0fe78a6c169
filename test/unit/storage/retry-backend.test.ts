import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { replayableBody } from '../../../src/storage/body.js';
import { FaultInjectionBackend } from '../../../src/storage/fault-backend.js';
import { LocalBackend } from '../../../src/storage/local-backend.js';
import { backoffDelay, type RetryInfo } from '../../../src/storage/retry.js';
import { RetryBackend } from '../../../src/storage/retry-backend.js';
import type { StorageBackend } from '../../../src/storage/storage-backend.js';
import { AbortError, StorageError } from '../../../src/util/errors.js';
import { bytes, chunks, expectStorageError, keys, read } from './conformance.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function setup(policy: ConstructorParameters<typeof RetryBackend>[1] = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'crmb-retry-'));
  dirs.push(dir);
  const faulty = new FaultInjectionBackend(await LocalBackend.open(dir));
  const retries: RetryInfo[] = [];
  const retry = new RetryBackend(faulty, { baseDelayMs: 1, onRetry: (i) => retries.push(i), ...policy });
  return { faulty, retry, retries };
}

describe('RetryBackend', () => {
  it('recovers from transient put failures', async () => {
    const { faulty, retry, retries } = await setup();
    faulty.inject({ op: 'put', times: 2 });
    await retry.put('k', bytes('v'));
    expect(faulty.calls.put).toBe(3);
    expect(retries.map((r) => r.attempt)).toEqual([1, 2]);
    expect(new TextDecoder().decode(await read(retry, 'k'))).toBe('v');
  });

  it('gives up at once on a permanent failure', async () => {
    const { faulty, retry } = await setup();
    faulty.inject({ op: 'put', error: 'no-space' });
    await expectStorageError(retry.put('k', bytes('v')), { reason: 'no-space', permanent: true });
    expect(faulty.calls.put).toBe(1);
    await expectStorageError(retry.get('missing'), { reason: 'not-found' });
    expect(faulty.calls.get).toBe(1);
  });

  it('gives up after the configured attempts and throws the last error', async () => {
    const { faulty, retry } = await setup({ attempts: 3 });
    faulty.inject({ op: 'stat' });
    await expectStorageError(retry.stat('k'), { permanent: false });
    expect(faulty.calls.stat).toBe(3);
  });

  it('tries a one-shot stream body once, and a replayable body again', async () => {
    const { faulty, retry } = await setup();
    faulty.inject({ op: 'put', times: 1 });
    await expectStorageError(retry.put('once', chunks([bytes('a')])), { permanent: false });
    expect(faulty.calls.put).toBe(1);

    faulty.inject({ op: 'put', keyPrefix: 'again', times: 1, afterBytes: 1 });
    let made = 0;
    await retry.put(
      'again',
      replayableBody(() => {
        made++;
        return chunks([bytes('a'), bytes('b')]);
      }),
    );
    expect(made).toBe(2);
    expect(new TextDecoder().decode(await read(retry, 'again'))).toBe('ab');
  });

  it('retries get, delete and the start of a listing', async () => {
    const { faulty, retry } = await setup();
    await retry.put('l/1', bytes('1'));
    faulty
      .inject({ op: 'get', times: 2 })
      .inject({ op: 'delete', times: 1 })
      .inject({ op: 'list', times: 2 });
    expect(await read(retry, 'l/1')).toEqual(bytes('1'));
    expect(await keys(retry, 'l/')).toEqual(['l/1']);
    await retry.delete('l/1');
    expect(faulty.calls).toMatchObject({ get: 3, list: 3, delete: 2 });
  });

  it('resumes a read that breaks part-way from the first byte not delivered', async () => {
    const { faulty, retry, retries } = await setup();
    const data = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    await retry.put('big', data);
    faulty.inject({ op: 'get', nth: 1, afterBytes: 300 }).inject({ op: 'get', nth: 3, afterBytes: 100 });
    expect(await read(retry, 'big')).toEqual(data);
    expect(await read(retry, 'big', { offset: 50, length: 400 })).toEqual(data.subarray(50, 450));
    expect(retries.map((r) => r.op)).toEqual(['get (resume)', 'get (resume)']);
    faulty.inject({ op: 'get', afterBytes: 10, error: 'permanent' });
    await expect(read(retry, 'big')).rejects.toBeInstanceOf(StorageError);
  });

  it('does not restart a listing that already yielded objects', async () => {
    let calls = 0;
    const flaky: StorageBackend = {
      location: 'flaky',
      put: async () => undefined,
      get: async () => chunks([]),
      delete: async () => undefined,
      stat: async () => undefined,
      async *list() {
        calls++;
        yield { key: 'a', size: 1, modified: new Date() };
        throw new StorageError('Injected transient fault in list.', { permanent: false });
      },
    };
    const seen: string[] = [];
    const err = await (async () => {
      for await (const o of new RetryBackend(flaky, { baseDelayMs: 1 }).list('')) seen.push(o.key);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(seen).toEqual(['a']);
    expect(calls).toBe(1);
  });

  it('stops waiting when the signal fires', async () => {
    const ac = new AbortController();
    // the abort comes once the ~59 s wait has begun (onRetry runs just before it); a fixed time
    // from the start could pass on a busy machine before the first attempt even failed
    const { faulty, retry } = await setup({
      baseDelayMs: 60_000,
      maxDelayMs: 60_000,
      random: () => 0.99,
      onRetry: () => setTimeout(() => ac.abort(), 20),
    });
    faulty.inject({ op: 'put' });
    const started = Date.now();
    await expect(retry.put('k', bytes('v'), { signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
    // far below the wait it cut short
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(faulty.calls.put).toBe(1);
  });

  it('honours a backend-wide signal for calls without their own', async () => {
    const { faulty } = await setup();
    const ac = new AbortController();
    const retry = new RetryBackend(faulty, {
      baseDelayMs: 60_000,
      random: () => 0.99,
      signal: ac.signal,
      // abort during the wait, as above
      onRetry: () => setTimeout(() => ac.abort(), 20),
    });
    faulty.inject({ op: 'stat' });
    await expect(retry.stat('k')).rejects.toBeInstanceOf(AbortError);
  });

  it('treats "exists" after an ambiguous create-only failure as success when the stored bytes are ours', async () => {
    const { faulty } = await setup();
    // The store keeps the object but the answer is lost: the first attempt "fails" after writing.
    let first = true;
    const lossy: StorageBackend = {
      ...faulty,
      location: faulty.location,
      list: (p, o) => faulty.list(p, o),
      get: (k, r, o) => faulty.get(k, r, o),
      stat: (k) => faulty.stat(k),
      delete: (k) => faulty.delete(k),
      put: async (k, b, o) => {
        await faulty.put(k, b, o);
        if (first) {
          first = false;
          throw new StorageError('Injected timeout after the write.', { permanent: false, key: k });
        }
      },
    };
    const retry = new RetryBackend(lossy, { baseDelayMs: 1 });
    await retry.put('lock', bytes('me'), { ifAbsent: true });
    // Someone else's object under the key is still a lost race.
    first = true;
    await faulty.put('other', bytes('them'));
    const lossyOther: StorageBackend = {
      ...lossy,
      put: async (k, b, o) => {
        if (first) {
          first = false;
          throw new StorageError('Injected timeout before the write.', { permanent: false, key: k });
        }
        await faulty.put(k, b, o);
      },
    };
    await expectStorageError(
      new RetryBackend(lossyOther, { baseDelayMs: 1 }).put('other', bytes('me'), { ifAbsent: true }),
      {
        reason: 'exists',
      },
    );
  });

  it('backs off exponentially with a cap', () => {
    const p = { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0.5 };
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(p, a))).toEqual([50, 100, 200, 400, 500, 500]);
  });
});
