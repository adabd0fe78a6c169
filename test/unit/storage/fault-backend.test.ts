import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultInjectionBackend } from '../../../src/storage/fault-backend.js';
import { LocalBackend } from '../../../src/storage/local-backend.js';
import { bytes, chunks, expectStorageError, keys, read } from './conformance.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'crmb-fault-'));
  dirs.push(dir);
  return { dir, faulty: new FaultInjectionBackend(await LocalBackend.open(dir)) };
}

describe('FaultInjectionBackend', () => {
  it('fails exactly the nth put', async () => {
    const { faulty } = await setup();
    faulty.inject({ op: 'put', nth: 2 });
    await faulty.put('a', bytes('a'));
    await expectStorageError(faulty.put('b', bytes('b')), { permanent: false });
    await faulty.put('c', bytes('c'));
    expect(await keys(faulty, '')).toEqual(['a', 'c']);
  });

  it('fails every put after N with no-space, only under a prefix', async () => {
    const { faulty } = await setup();
    faulty.inject({ op: 'put', after: 1, keyPrefix: 'data/', error: 'no-space' });
    await faulty.put('data/1', bytes('1'));
    await expectStorageError(faulty.put('data/2', bytes('2')), { reason: 'no-space', permanent: true });
    await expectStorageError(faulty.put('data/3', bytes('3')), { reason: 'no-space', permanent: true });
    await faulty.put('index/1', bytes('i'));
    expect(faulty.calls.put).toBe(4);
  });

  it('breaks a put body part-way and the backend shows no partial object', async () => {
    const { dir, faulty } = await setup();
    faulty.inject({ op: 'put', nth: 1, afterBytes: 3, error: 'permanent' });
    await expectStorageError(faulty.put('p/x', chunks([bytes('ab'), bytes('cd')])), { permanent: true });
    expect(await faulty.stat('p/x')).toBeUndefined();
    expect(await readdir(join(dir, 'p'))).toEqual([]);
  });

  it('breaks a read part-way, corrupts reads, loses puts and drops objects', async () => {
    const { faulty } = await setup();
    await faulty.put('r/x', bytes('hello'));
    faulty.inject({ op: 'get', nth: 1, afterBytes: 2 });
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const c of await faulty.get('r/x')) got.push(...c);
      })(),
    ).rejects.toThrow(/Injected/);
    expect(got.length).toBe(2);

    faulty.corruptReads('r/');
    const bad = await read(faulty, 'r/x');
    expect(bad[0]).toBe('h'.charCodeAt(0) ^ 1);
    expect(bad.subarray(1)).toEqual(bytes('ello'));

    faulty.heal().losePuts('lost/');
    await faulty.put('lost/x', chunks([bytes('gone')]));
    expect(await faulty.stat('lost/x')).toBeUndefined();

    await faulty.dropObject('r/x');
    await expectStorageError(faulty.get('r/x'), { reason: 'not-found' });
  });

  it('throws a custom error and limits how often a rule fires', async () => {
    const { faulty } = await setup();
    const custom = new Error('custom');
    faulty.inject({ op: 'delete', times: 1, error: custom });
    await expect(faulty.delete('x')).rejects.toBe(custom);
    await faulty.delete('x');
  });
});
