/**
 * The order in which the core calls a TargetDriver, as target-driver.ts states it: drivers
 * schedule and switch things off by it. A recording TargetDriver stands in for the database.
 */
import { describe, expect, it } from 'vitest';
import { SEGMENT_MAGIC, encodeTransaction } from '../../../src/repository/segment-codec.js';
import type { TargetDriver } from '../../../src/driver/target-driver.js';
import { fakeDriver } from '../../helpers/fake-driver.js';
import type { SegmentManifest, SnapshotManifest } from '../../../src/repository/repository-api.js';
import { runRestore } from '../../../src/restore/restore-job.js';
import { memoryLogger } from '../../../src/util/log.js';
import { crmStream, newRepo } from '../repository/helpers.js';

async function fixture(failLoad?: string) {
  const { repo } = await newRepo();
  const big = await repo.writeStream(crmStream(300_000));
  const small = await repo.writeStream(crmStream(1_000));
  const empty = await repo.writeStream((async function* () {})());
  const segment = {
    id: 'seg',
    data: await repo.writeStream(
      (async function* () {
        yield SEGMENT_MAGIC;
        yield encodeTransaction({
          position: '02',
          commitTime: 1_000n,
          payload: Buffer.from('x'),
          changes: 1,
        });
      })(),
    ),
  } as unknown as SegmentManifest;
  const snapshot = {
    id: 'snap',
    position: '01',
    consistentAtMicros: '0',
    streams: [
      { name: 'public.users', table: 'public.users', format: 'x', data: small },
      { name: 'public.contacts#1', table: 'public.contacts', format: 'x', data: big },
      { name: 'public.deals', table: 'public.deals', format: 'x', data: empty },
    ],
    schema: empty,
    schemaFormat: 'x',
  } as unknown as SnapshotManifest;
  const calls: string[] = [];
  const target: TargetDriver = {
    kind: 'fake',
    preflight: async ({ replay }) => {
      calls.push(`preflight replay=${replay}`);
      return [];
    },
    assertEmpty: async () => void calls.push('assertEmpty'),
    createSchema: async (_s, _f, phase) => void calls.push(`createSchema ${phase}`),
    planLoads: (streams) =>
      void calls.push(`planLoads ${streams.map((s) => `${s.name}:${s.bytes}`).join(' ')}`),
    load: async (name, _format, data) => {
      calls.push(`load ${name}`);
      for await (const _ of data);
      if (name === failLoad) throw new Error('load failed');
      return { rows: 1, bytes: 1 };
    },
    warnings: () => (calls.push('warnings'), []),
    apply: async (tx) => void calls.push(`apply ${tx.position}`),
    finish: async () => void calls.push('finish'),
    close: async () => void calls.push('close'),
  };
  const driver = fakeDriver(target);
  const restore = (untilMicros: bigint | undefined) =>
    runRestore({
      repo,
      driver,
      plan: { snapshot, segments: untilMicros === undefined ? [] : [segment], untilMicros },
      targetUrl: 'fake://',
      jobs: 1,
      log: memoryLogger(),
    });
  return { repo, calls, restore, sizes: { big: big.bytes, small: small.bytes } };
}

describe('target call order', () => {
  it('plans the loads once before the first, largest first, then post-data, replay, finish, close', async () => {
    const f = await fixture();
    await f.restore(2_000n);
    await f.repo.close();
    expect(f.calls).toEqual([
      'preflight replay=true',
      'assertEmpty',
      'createSchema pre-data',
      `planLoads public.contacts#1:${f.sizes.big} public.users:${f.sizes.small} public.deals:0`,
      'load public.contacts#1',
      'load public.users',
      'load public.deals',
      'createSchema post-data',
      'warnings',
      'apply 02',
      'finish',
      'close',
    ]);
  });

  it('applies nothing for a snapshot restore, and closes after a failed load with nothing in between', async () => {
    const f = await fixture();
    await f.restore(undefined);
    expect(f.calls.filter((c) => c.startsWith('apply'))).toEqual([]);
    expect(f.calls.slice(-2)).toEqual(['finish', 'close']);
    const failing = await fixture('public.users');
    await expect(failing.restore(undefined)).rejects.toThrow('load failed');
    await f.repo.close();
    await failing.repo.close();
    expect(failing.calls.slice(-3)).toEqual(['load public.contacts#1', 'load public.users', 'close']);
  });
});
