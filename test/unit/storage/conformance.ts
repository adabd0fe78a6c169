/**
 * The storage contract as tests. Every StorageBackend runs this same suite
 * (restic's backend test suite is the model): local folders in test/unit,
 * S3 in test/integration. A capability a store lacks is declared by the caller
 * and reported as a skipped test naming the store and the reason, never silently dropped.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { collectBytes } from '../../../src/storage/body.js';
import type { StorageBackend } from '../../../src/storage/storage-backend.js';
import { AbortError, StorageError } from '../../../src/util/errors.js';

/** `true`, or the reason this store does not do it (printed in the test name and on stderr). */
export type Capability = true | { unsupported: string };

export interface ConformanceOptions {
  /** Create-only puts are atomic: of two racing writers exactly one wins. */
  readonly ifAbsent?: Capability;
  /** A get racing a put of the same key sees the old object, the whole new one, or not-found. */
  readonly atomicVisibility?: Capability;
  /** A range read of a 0-byte object returns no bytes (instead of failing). */
  readonly rangeOfEmptyObject?: Capability;
  /** How many keys the pagination test writes; > 1000 crosses an S3 page. */
  readonly manyKeys?: number;
  /** Size of the big streamed object; above the S3 backend's part size so multipart is used. */
  readonly bigBytes?: number;
}

export function runStorageConformance(
  name: string,
  makeBackend: () => Promise<StorageBackend>,
  options: ConformanceOptions = {},
): void {
  const manyKeys = options.manyKeys ?? 1100;
  const bigBytes = options.bigBytes ?? 12 * 1024 * 1024 + 12_345;

  const capable = (cap: Capability | undefined, what: string): { ok: boolean; title: string } => {
    if (cap === undefined || cap === true) return { ok: true, title: what };
    // Loud on purpose: a missing capability must be visible in every run's output (STYLE.md 10).
    console.warn(`[storage conformance] ${name}: "${what}" NOT TESTED: ${cap.unsupported}`);
    return { ok: false, title: `${what} [NOT SUPPORTED by ${name}: ${cap.unsupported}]` };
  };

  describe(`StorageBackend conformance: ${name}`, () => {
    it('round-trips empty, small and binary objects', async () => {
      const b = await makeBackend();
      await b.put('t/empty', new Uint8Array(0));
      expect(await read(b, 't/empty')).toEqual(new Uint8Array(0));
      await b.put('t/empty-stream', chunks([]));
      expect(await read(b, 't/empty-stream')).toEqual(new Uint8Array(0));
      const small = randomBytes(1000);
      await b.put('t/small', small);
      expect(Buffer.from(await read(b, 't/small'))).toEqual(small);
      expect((await b.stat('t/small'))?.size).toBe(1000);
    });

    it('streams a multi-MiB body in uneven chunks without changing a byte', async () => {
      const b = await makeBackend();
      const data = randomBytes(bigBytes);
      await b.put('big/obj', chunks(split(data, 100_003)));
      const got = await read(b, 'big/obj');
      expect(got.length).toBe(data.length);
      expect(sha256(got)).toBe(sha256(data));
      expect((await b.stat('big/obj'))?.size).toBe(bigBytes);
      // A range across the first part boundary of a multipart upload.
      const mid = 8 * 1024 * 1024 - 10;
      expect(Buffer.from(await read(b, 'big/obj', { offset: mid, length: 20 }))).toEqual(
        data.subarray(mid, mid + 20),
      );
    });

    it('overwrites an existing key with the new content', async () => {
      const b = await makeBackend();
      await b.put('t/over', bytes('old'));
      await b.put('t/over', chunks([bytes('n'), bytes('ew')]));
      expect(text(await read(b, 't/over'))).toBe('new');
    });

    it('reads byte ranges at the start, middle and end, clipped at the end', async () => {
      const b = await makeBackend();
      const data = randomBytes(4096);
      await b.put('r/obj', data);
      const at = async (offset: number, length: number) =>
        Buffer.from(await read(b, 'r/obj', { offset, length }));
      expect(await at(0, 10)).toEqual(data.subarray(0, 10));
      expect(await at(1000, 1234)).toEqual(data.subarray(1000, 2234));
      expect(await at(4086, 10)).toEqual(data.subarray(4086));
      expect(await at(4090, 100)).toEqual(data.subarray(4090));
      expect(await at(4096, 10)).toEqual(Buffer.alloc(0));
      expect(await at(5000, 10)).toEqual(Buffer.alloc(0));
      expect(await at(17, 0)).toEqual(Buffer.alloc(0));
    });

    const emptyRange = capable(options.rangeOfEmptyObject, 'a range of an empty object is empty');
    it.skipIf(!emptyRange.ok)(emptyRange.title, async () => {
      const b = await makeBackend();
      await b.put('r/empty', new Uint8Array(0));
      expect(await read(b, 'r/empty', { offset: 0, length: 10 })).toEqual(new Uint8Array(0));
    });

    it('rejects a negative or fractional range', async () => {
      const b = await makeBackend();
      await b.put('r/x', bytes('x'));
      await expectStorageError(b.get('r/x', { offset: -1, length: 2 }), { permanent: true });
      await expectStorageError(b.get('r/x', { offset: 0, length: 1.5 }), { permanent: true });
    });

    it('lists nested keys by prefix with sizes and times', async () => {
      const b = await makeBackend();
      const before = Date.now() - 5 * 60_000;
      for (const k of ['l/a/1', 'l/a/2', 'l/ab/3', 'l/b/c/d/4', 'l/top', 'other/x']) await b.put(k, bytes(k));
      expect(await keys(b, 'l/')).toEqual(['l/a/1', 'l/a/2', 'l/ab/3', 'l/b/c/d/4', 'l/top']);
      expect(await keys(b, 'l/a/')).toEqual(['l/a/1', 'l/a/2']);
      expect(await keys(b, 'l/a')).toEqual(['l/a/1', 'l/a/2', 'l/ab/3']);
      expect(await keys(b, 'l/b/c/d/4')).toEqual(['l/b/c/d/4']);
      expect(await keys(b, 'l/nothing/')).toEqual([]);
      expect(await keys(b, 'nope')).toEqual([]);
      expect(await keys(b, '')).toEqual(['l/a/1', 'l/a/2', 'l/ab/3', 'l/b/c/d/4', 'l/top', 'other/x']);
      for await (const o of b.list('l/b/')) {
        expect(o.size).toBe('l/b/c/d/4'.length);
        expect(o.modified).toBeInstanceOf(Date);
        expect(o.modified.getTime()).toBeGreaterThan(before);
      }
    });

    it(`lists ${manyKeys} keys (more than one S3 page)`, async () => {
      const b = await makeBackend();
      const all = Array.from({ length: manyKeys }, (_, i) => `many/${String(i).padStart(5, '0')}`);
      await inParallel(all, 32, (k) => b.put(k, bytes(k)));
      const listed = await keys(b, 'many/');
      expect(listed.length).toBe(manyKeys);
      expect(listed).toEqual(all);
      expect(await keys(b, 'many/0001')).toEqual(all.filter((k) => k.startsWith('many/0001')));
    });

    it('stats present and absent keys', async () => {
      const b = await makeBackend();
      expect(await b.stat('s/none')).toBeUndefined();
      await b.put('s/one', bytes('12345'));
      const st = await b.stat('s/one');
      expect(st?.size).toBe(5);
      expect(Math.abs((st?.modified.getTime() ?? 0) - Date.now())).toBeLessThan(5 * 60_000);
    });

    it('deletes idempotently', async () => {
      const b = await makeBackend();
      await b.delete('d/never-existed');
      await b.put('d/x', bytes('x'));
      await b.delete('d/x');
      await b.delete('d/x');
      expect(await b.stat('d/x')).toBeUndefined();
      expect(await keys(b, 'd/')).toEqual([]);
      await expectStorageError(b.get('d/x'), { reason: 'not-found', permanent: true });
    });

    it('reports a missing key as not-found, permanent', async () => {
      const b = await makeBackend();
      await expectStorageError(b.get('n/missing'), { reason: 'not-found', permanent: true });
      await expectStorageError(b.get('n/missing', { offset: 0, length: 1 }), {
        reason: 'not-found',
        permanent: true,
      });
    });

    it('rejects keys that are absolute, climb out or have empty segments', async () => {
      const b = await makeBackend();
      for (const k of [
        '',
        '/abs',
        '../up',
        'a/../../b',
        'a//b',
        'a/',
        'a/./b',
        'a\\b',
        '.tmp-x',
        'a/.tmp-y',
      ]) {
        await expectStorageError(b.put(k, bytes('x')), { permanent: true });
        await expectStorageError(b.get(k), { permanent: true });
      }
      await expectStorageError(collectList(b.list('../')), { permanent: true });
    });

    const ifAbsent = capable(options.ifAbsent, 'create-only puts: exactly one of two racing writers wins');
    it.skipIf(!ifAbsent.ok)(ifAbsent.title, async () => {
      const b = await makeBackend();
      await b.put('c/once', bytes('first'), { ifAbsent: true });
      await expectStorageError(b.put('c/once', bytes('second'), { ifAbsent: true }), {
        reason: 'exists',
        permanent: true,
      });
      expect(text(await read(b, 'c/once'))).toBe('first');
      for (let round = 0; round < 5; round++) {
        const key = `c/race-${round}`;
        const results = await Promise.allSettled([
          b.put(key, chunks([bytes('writer-A')]), { ifAbsent: true }),
          b.put(key, chunks([bytes('writer-B')]), { ifAbsent: true }),
        ]);
        const won = results.flatMap((r, i) =>
          r.status === 'fulfilled' ? [i === 0 ? 'writer-A' : 'writer-B'] : [],
        );
        expect(won.length, `round ${round}: exactly one writer wins`).toBe(1);
        const lost = results.find((r) => r.status === 'rejected');
        expect(lost?.status === 'rejected' && lost.reason instanceof StorageError && lost.reason.reason).toBe(
          'exists',
        );
        expect(text(await read(b, key))).toBe(won[0]);
      }
    });

    const atomic = capable(options.atomicVisibility, 'a get racing a put never sees a partial object');
    it.skipIf(!atomic.ok)(atomic.title, async () => {
      const b = await makeBackend();
      const oldData = Buffer.alloc(64 * 1024, 1);
      const newData = Buffer.alloc(64 * 1024, 2);
      await b.put('v/obj', oldData);
      let done = false;
      const writer = b.put('v/obj', slowChunks(split(newData, 4096), 2)).finally(() => (done = true));
      const seen = new Set<string>();
      while (!done) {
        const got = Buffer.from(await read(b, 'v/obj'));
        seen.add(got.equals(oldData) ? 'old' : got.equals(newData) ? 'new' : `partial(${got.length})`);
      }
      await writer;
      seen.add(Buffer.from(await read(b, 'v/obj')).equals(newData) ? 'new' : 'wrong-final');
      expect([...seen].filter((s) => s !== 'old' && s !== 'new')).toEqual([]);
      // A fresh key: readers see not-found until the whole object is there.
      let done2 = false;
      const writer2 = b.put('v/fresh', slowChunks(split(newData, 4096), 2)).finally(() => (done2 = true));
      while (!done2) {
        try {
          expect(Buffer.from(await read(b, 'v/fresh')).equals(newData)).toBe(true);
        } catch (e) {
          expect(e instanceof StorageError && e.reason).toBe('not-found');
        }
      }
      await writer2;
    });

    it('stores nothing when the body fails part-way', async () => {
      const b = await makeBackend();
      const broke = new Error('source broke');
      async function* failing(): AsyncIterable<Uint8Array> {
        yield bytes('partial data');
        throw broke;
      }
      // The body's own error comes back unchanged: it is the caller's fault, not the store's.
      await expect(b.put('f/broken', failing())).rejects.toBe(broke);
      expect(await b.stat('f/broken')).toBeUndefined();
      expect(await keys(b, 'f/')).toEqual([]);
    });

    it('stops on an AbortSignal and leaves no object', async () => {
      const b = await makeBackend();
      await expect(b.put('a/pre', bytes('x'), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
        AbortError,
      );
      expect(await b.stat('a/pre')).toBeUndefined();

      const ac = new AbortController();
      async function* body(): AsyncIterable<Uint8Array> {
        yield Buffer.alloc(1024, 7);
        ac.abort();
        yield Buffer.alloc(1024, 8);
      }
      await expect(b.put('a/mid', body(), { signal: ac.signal })).rejects.toBeInstanceOf(AbortError);
      expect(await b.stat('a/mid')).toBeUndefined();
      expect(await keys(b, 'a/')).toEqual([]);

      await b.put('a/there', bytes('there'));
      await expect(b.get('a/there', undefined, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
        AbortError,
      );
      await expect(collectList(b.list('a/', { signal: AbortSignal.abort() }))).rejects.toBeInstanceOf(
        AbortError,
      );
    });
  });
}

export async function read(
  b: StorageBackend,
  key: string,
  range?: { offset: number; length: number },
): Promise<Uint8Array> {
  return collectBytes(await b.get(key, range));
}

export async function keys(b: StorageBackend, prefix: string): Promise<string[]> {
  return (await collectList(b.list(prefix))).map((o) => o.key).sort();
}

async function collectList<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function expectStorageError(
  p: Promise<unknown>,
  want: { reason?: StorageError['reason']; permanent?: boolean },
): Promise<StorageError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a StorageError').toBeInstanceOf(StorageError);
  const se = e as StorageError;
  if (want.reason !== undefined) expect(se.reason).toBe(want.reason);
  if (want.permanent !== undefined) expect(se.permanent).toBe(want.permanent);
  return se;
}

export function bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function split(data: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

export async function* chunks(list: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const c of list) yield c;
}

async function* slowChunks(list: readonly Uint8Array[], delayMs: number): AsyncIterable<Uint8Array> {
  for (const c of list) {
    await new Promise((r) => setTimeout(r, delayMs));
    yield c;
  }
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}
