import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { RepositoryError } from '../../../src/util/errors.js';
import { Secret } from '../../../src/util/redact.js';
import { addKey, initRepository, listKeys, openRepository, removeKey, type Repository } from '../../../src/repository/index.js';
import { calibrateScrypt, MIN_WORK, parseKeyFile, scryptMemoryBytes } from '../../../src/repository/keys.js';
import { MemoryBackend } from './memory-backend.js';
import { CHEAP, newRepo, PASSWORD } from './helpers.js';

const open: Repository[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

async function messageOf(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(RepositoryError);
  return (e as Error).message;
}

describe('opening repositories', () => {
  it('refuses a wrong password with one sentence', async () => {
    const { storage } = await newRepo();
    expect(await messageOf(openRepository(storage, new Secret('nope')))).toBe(
      'The password does not open any key of the repository at memory://test.',
    );
  });

  it('refuses a folder that is not a repository', async () => {
    expect(await messageOf(openRepository(new MemoryBackend('/srv/empty'), PASSWORD))).toBe(
      '/srv/empty is not a crm-backup repository (no config object); run "crm-backup init --repo /srv/empty" first.',
    );
  });

  it('refuses to init twice', async () => {
    const { storage } = await newRepo();
    expect(await messageOf(initRepository(storage, PASSWORD, CHEAP))).toBe(
      'memory://test already holds a crm-backup repository (it has a config object); open it instead of running init again.',
    );
  });

  it('names a damaged key file', async () => {
    const { storage } = await newRepo();
    const mem = storage as MemoryBackend;
    const [key] = mem.keys('keys/');
    const obj = mem.objects.get(key as string)!;
    obj.data[60] = (obj.data[60] as number) ^ 1;
    expect(await messageOf(openRepository(storage, PASSWORD))).toBe(
      `The key file ${key} of the repository at memory://test is damaged (its checksum does not match); open the repository with another key or restore that file from a copy.`,
    );
  });

  it('refuses a newer format major and an edited config', async () => {
    const { storage } = await newRepo();
    const mem = storage as MemoryBackend;
    const cfg = JSON.parse(Buffer.from(mem.objects.get('config')!.data).toString()) as Record<string, unknown>;
    mem.objects.get('config')!.data = Buffer.from(JSON.stringify({ ...cfg, major: 2, minor: 0 }));
    expect(await messageOf(openRepository(storage, PASSWORD))).toMatch(/uses format version 2\.0, newer than this crm-backup reads \(1\.x\); upgrade crm-backup/);
    mem.objects.get('config')!.data = Buffer.from(JSON.stringify({ ...cfg, chunker: { min: 1024, avg: 4096, max: 8192 } }));
    expect(await messageOf(openRepository(storage, PASSWORD))).toMatch(/config object .* is damaged \(its MAC does not match/);
  });

  it('never puts the password in messages or storage', async () => {
    const { storage } = await newRepo();
    const all = Buffer.concat([...(storage as MemoryBackend).objects.values()].map((o) => o.data)).toString('latin1');
    expect(all).not.toContain(PASSWORD.reveal());
  });
});

describe('key derivation cost', () => {
  it('calibrates within the memory cap and makes up the time with more lanes', async () => {
    const params = await calibrateScrypt(200, 4 * 1024 * 1024);
    expect(scryptMemoryBytes(params)).toBeLessThanOrEqual(4 * 1024 * 1024);
    // however long the probe took on this machine, the work (N·p) is at least the floor
    expect(params.N * params.p).toBeGreaterThanOrEqual(MIN_WORK);
  });

  it('never calibrates below the floor, however busy the machine (a 1 ms target stands for one)', async () => {
    for (const cap of [4 * 1024 * 1024, 64 * 1024 * 1024]) {
      const params = await calibrateScrypt(1, cap);
      expect(params.N * params.p, `cap ${cap}`).toBeGreaterThanOrEqual(MIN_WORK);
      expect(scryptMemoryBytes(params)).toBeLessThanOrEqual(cap);
    }
  });

  it('refuses a key file that asks for more memory than any crm-backup ever derives with', async () => {
    const { storage } = await newRepo();
    const mem = storage as MemoryBackend;
    const [key] = mem.keys('keys/');
    const raw = mem.objects.get(key as string)!.data;
    const file = JSON.parse(Buffer.from(raw.subarray(32)).toString()) as Record<string, unknown>;
    const id = (key as string).slice('keys/'.length);
    const edit = (cost: Record<string, number>): Buffer => {
      const body = Buffer.from(JSON.stringify({ ...file, ...cost }));
      return Buffer.concat([createHash('sha256').update(body).digest(), body]);
    };
    const edited = edit({ N: 2 ** 30 });
    // within N's bound, but 4 GiB of memory, or hours of work
    expect(() => parseKeyFile('memory://test', id, edit({ N: 2 ** 20, r: 32 }))).toThrow(/at most 1 GiB of memory/);
    expect(() => parseKeyFile('memory://test', id, edit({ N: 2 ** 16, p: 1024 }))).toThrow(/N·r·p up to 2\^25/);
    expect(parseKeyFile('memory://test', id, edit({ N: 2 ** 20, r: 8, p: 1 })).N).toBe(2 ** 20);
    expect(() => parseKeyFile('memory://test', id, edited)).toThrow(
      `The key file keys/${id} of the repository at memory://test is damaged (its scrypt cost N=1073741824, r=8, p=1 is outside what crm-backup derives (N a power of two up to 2^20, at most 1 GiB of memory, N·r·p up to 2^25)); open the repository with another key or restore that file from a copy.`,
    );
  });
});

describe('key management', () => {
  it('adds, lists and removes keys; refuses the current and the last key', async () => {
    const { storage } = await newRepo();
    const second = new Secret('second password');
    const { id } = await addKey(storage, PASSWORD, second, { label: 'ops laptop', scrypt: CHEAP.scrypt });
    const keys = await listKeys(storage, second);
    expect(keys).toHaveLength(2);
    expect(keys.find((k) => k.id === id)).toMatchObject({ label: 'ops laptop', current: true });
    const r = await openRepository(storage, second, { workers: 0 });
    open.push(r);
    const first = keys.find((k) => !k.current)!;
    expect(await messageOf(removeKey(storage, PASSWORD, first.id))).toMatch(/is the one this password opened/);
    await removeKey(storage, second, first.id);
    expect(await messageOf(openRepository(storage, PASSWORD))).toMatch(/password does not open any key/);
    expect(await messageOf(removeKey(storage, second, id))).toMatch(/is the one this password opened/);
  });

  it('two removals at once, each with the other key, never leave the repository without a key', async () => {
    const { storage } = await newRepo();
    const second = new Secret('second password');
    const { id } = await addKey(storage, PASSWORD, second, { scrypt: CHEAP.scrypt });
    const first = (await listKeys(storage, PASSWORD)).find((k) => k.current)!.id;
    // the worst interleaving: each key deletion waits for a second one (300 ms at most)
    const mem = storage as MemoryBackend;
    const deleteNow = mem.delete.bind(mem);
    const held: (() => void)[] = [];
    mem.delete = async (key: string): Promise<void> => {
      if (key.startsWith('keys/'))
        await new Promise<void>((resolve) => {
          held.push(resolve);
          if (held.length >= 2) for (const go of held) go();
          else setTimeout(resolve, 300);
        });
      return deleteNow(key);
    };
    const results = await Promise.allSettled([removeKey(storage, PASSWORD, id), removeKey(storage, second, first)]);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    // the loser is told why in one sentence: the other removal holds the lock, or got there first
    for (const r of refused)
      expect((r.reason as Error).message).toMatch(
        /^The repository at memory:\/\/test is locked for a key change by host .* \(key remove\) since \d+ s ago;|was removed from the repository at memory:\/\/test meanwhile; nothing was removed\.$|is the last key of the repository/,
      );
    const left = (storage as MemoryBackend).keys('keys/');
    expect(left.length).toBeGreaterThanOrEqual(1);
    // whichever key is left still opens the repository, and the keys lock is gone
    const password = left[0] === `keys/${first}` ? PASSWORD : second;
    open.push(await openRepository(storage, password, { workers: 0 }));
    expect((storage as MemoryBackend).keys('locks/')).toEqual([]);
  });
});
