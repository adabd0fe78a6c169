import { afterEach, describe, expect, it } from 'vitest';
import type { Repository } from '../../../src/repository/index.js';
import type { MemoryBackend } from './memory-backend.js';
import { collect, crmStream, newRepo, pieces, randomBytesSeeded, reopen, sha256Of, tempLocal } from './helpers.js';
import { du } from './du.js';

const open: Repository[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((r) => r.close()));
});

describe('writeStream / readStream round trip', () => {
  for (const workers of [0, 2]) {
    for (const [name, size] of [['0 B', 0], ['1 B', 1], ['10 MiB', 10 * 1024 * 1024]] as const) {
      it(`random ${name} (workers=${workers})`, async () => {
        const { repo, storage } = await newRepo({ workers });
        open.push(repo);
        const data = randomBytesSeeded(size, 7);
        const ref = await repo.writeStream(pieces(data, [65536, 1, 300_000]));
        expect(ref.bytes).toBe(size);
        expect(ref.sizes.reduce((a, b) => a + b, 0)).toBe(size);
        expect(Buffer.compare(await collect(repo.readStream(ref)), Buffer.from(data))).toBe(0);
        const again = await reopen(storage, { workers });
        open.push(again);
        expect(Buffer.compare(await collect(again.readStream(ref)), Buffer.from(data))).toBe(0);
      });
    }
    it(`CRM-like text 10 MiB (workers=${workers})`, async () => {
      const { repo, storage } = await newRepo({ workers });
      open.push(repo);
      const ref = await repo.writeStream(crmStream(10 * 1024 * 1024));
      const want = await sha256Of(crmStream(10 * 1024 * 1024));
      expect(await sha256Of(repo.readStream(ref))).toEqual(want);
      // Text compresses: storage holds much less than the plaintext.
      expect((storage as MemoryBackend).bytes('data/')).toBeLessThan(want.bytes / 2);
    });
  }

  it('round-trips through the local folder backend', async () => {
    const local = await tempLocal();
    try {
      const { repo, storage } = await newRepo({ workers: 2 }, local.storage);
      open.push(repo);
      const data = randomBytesSeeded(9 * 1024 * 1024 + 17, 5);
      const ref = await repo.writeStream(pieces(data, [1 << 20, 333]));
      const again = await reopen(storage, { workers: 1 });
      open.push(again);
      expect(Buffer.compare(await collect(again.readStream(ref)), Buffer.from(data))).toBe(0);
      // Random data is stored raw, so objects are plaintext + envelope overhead, no more.
      expect(await du(local.dir)).toBeLessThan(data.length + ref.chunks.length * 100 + 10_000);
    } finally {
      await Promise.all(open.splice(0).map((r) => r.close()));
      await local.cleanup();
    }
  });

  it('many concurrent writeStreams share the repository memory budget', async () => {
    const { repo } = await newRepo({ workers: 2, maxInFlightBytes: 4 * 1024 * 1024 });
    open.push(repo);
    const refs = await Promise.all(Array.from({ length: 8 }, (_, i) => repo.writeStream(crmStream(3 * 1024 * 1024, i * 1_000_000))));
    for (const [i, ref] of refs.entries()) {
      expect(await sha256Of(repo.readStream(ref))).toEqual(await sha256Of(crmStream(3 * 1024 * 1024, i * 1_000_000)));
    }
  });

  it('stops on an aborted signal', async () => {
    const { repo } = await newRepo();
    open.push(repo);
    const ac = new AbortController();
    ac.abort();
    await expect(repo.writeStream(crmStream(1_000_000), { signal: ac.signal })).rejects.toThrow(/interrupted/);
  });

  it('commits and lists a snapshot manifest', async () => {
    const { repo, storage } = await newRepo();
    open.push(repo);
    const data = await repo.writeStream(crmStream(100_000));
    const schema = await repo.writeStream(pieces(Buffer.from('CREATE TABLE contacts (...);')));
    const id = await repo.commitSnapshot({
      source: 'crm-prod', driver: 'postgres', driverFormatVersion: 1, tags: ['nightly'], position: '0/16B3748',
      consistentAt: '2025-01-01T00:00:00.000000Z', consistentAtMicros: '1735689600000000', startedAt: '2025-01-01T00:00:00Z',
      finishedAt: '2025-01-01T00:01:00Z', schemaFormat: 'pg-schema-v1', schema, meta: { server: '16.4' },
      sourceUrl: 'postgres://app@db/crm', streams: [{ name: 'public.contacts', table: 'public.contacts', format: 'copy-text', rows: 10, data }],
    });
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const other = await reopen(storage);
    open.push(other);
    const [snap] = await other.listSnapshots();
    expect(snap?.id).toBe(id);
    expect(snap?.streams[0]?.data).toEqual(data);
    expect(await other.sources()).toEqual(['crm-prod']);
    // The source name is data: it must not appear in any storage key.
    expect([...(storage as MemoryBackend).objects.keys()].some((k) => k.includes('crm-prod'))).toBe(false);
  });
});
