import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../../src/storage/local-backend.js';
import { bytes, expectStorageError, keys, read, runStorageConformance } from './conformance.js';

const dirs: string[] = [];
async function freshDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'crmb-local-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

runStorageConformance('local folder', async () => LocalBackend.open(await freshDir()));

describe('LocalBackend specifics', () => {
  it('creates the repository folder on first put and treats a missing one as empty', async () => {
    const root = join(await freshDir(), 'not', 'yet');
    const b = await LocalBackend.open(root);
    expect(b.location).toBe(root);
    expect(await keys(b, '')).toEqual([]);
    expect(await b.stat('x')).toBeUndefined();
    await b.put('a/b/c', bytes('abc'));
    expect(await readdir(join(root, 'a', 'b'))).toEqual(['c']);
  });

  it('refuses a location that is a file', async () => {
    const f = join(await freshDir(), 'file');
    await writeFile(f, 'x');
    await expectStorageError(LocalBackend.open(f), { permanent: true });
  });

  it('ignores temp files of killed writers in list and cleans up old ones', async () => {
    const root = await freshDir();
    const b = await LocalBackend.open(root);
    await b.put('k/real', bytes('real'));
    const oldTmp = join(root, 'k', '.tmp-dead1');
    const newTmp = join(root, 'k', '.tmp-alive');
    await writeFile(oldTmp, 'half');
    await writeFile(newTmp, 'half');
    const hourAgo = new Date(Date.now() - 3_600_000);
    await utimes(oldTmp, hourAgo, hourAgo);
    expect(await keys(b, '')).toEqual(['k/real']);
    expect(await b.cleanupTemp(10 * 60_000)).toBe(1);
    expect((await readdir(join(root, 'k'))).sort()).toEqual(['.tmp-alive', 'real']);
  });

  it('leaves no temp file behind after puts, failed puts and lost create-only races', async () => {
    const root = await freshDir();
    const b = await LocalBackend.open(root);
    await b.put('t/a', bytes('a'));
    await b.put('t/a', bytes('b'), { ifAbsent: true }).catch(() => undefined);
    await b.put('t/b', bytes('b'), { ifAbsent: true });
    expect((await readdir(join(root, 't'))).sort()).toEqual(['a', 'b']);
  });

  it('reports a key that collides with a folder as a permanent error', async () => {
    const b = await LocalBackend.open(await freshDir());
    await b.put('x/y', bytes('y'));
    await expectStorageError(b.put('x', bytes('x')), { permanent: true });
    await b.put('f', bytes('f'));
    await expectStorageError(b.put('f/g', bytes('g')), { permanent: true });
    expect(await b.stat('x')).toBeUndefined();
    await expectStorageError(b.get('x'), { reason: 'not-found' });
    expect(await b.stat('f/g')).toBeUndefined();
  });

  // root ignores file modes, so there is nothing to observe; fs-errors.test.ts covers the message.
  const isRoot = process.getuid?.() === 0;
  it.skipIf(isRoot)(
    `names the path when permission is denied${isRoot ? ' [skipped: running as root]' : ''}`,
    async () => {
      const root = await freshDir();
      const b = await LocalBackend.open(root);
      await b.put('p/x', bytes('x'));
      const { chmod } = await import('node:fs/promises');
      await chmod(join(root, 'p'), 0o500);
      try {
        const e = await expectStorageError(b.put('p/y', bytes('y')), { permanent: true });
        expect(e.message).toContain(join(root, 'p'));
        expect(e.message).toMatch(/Permission denied/);
      } finally {
        await chmod(join(root, 'p'), 0o700);
      }
    },
  );

  it('lets exactly one of many racing create-only writers win', async () => {
    const b = await LocalBackend.open(await freshDir());
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) =>
          b.put(`race/${round}`, bytes(`writer-${i}`), { ifAbsent: true }),
        ),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners.length).toBe(1);
      expect(new TextDecoder().decode(await read(b, `race/${round}`))).toBe(`writer-${winners[0]}`);
    }
    expect((await keys(b, 'race/')).length).toBe(5);
  });

  it('reads a large object back in bounded chunks', async () => {
    const b = await LocalBackend.open(await freshDir());
    // a chunk object (≤ 8 MiB) comes back in one piece; anything bigger in pieces of 8 MiB
    const size = 20 * 1024 * 1024 + 5;
    await b.put('big', Buffer.alloc(size, 9));
    const pieces: number[] = [];
    for await (const c of await b.get('big')) pieces.push(c.length);
    expect(pieces).toEqual([8 * 1024 * 1024, 8 * 1024 * 1024, 4 * 1024 * 1024 + 5]);
    expect((await read(b, 'big')).length).toBe(size);
  });
});
