import { afterAll, describe, expect, it } from 'vitest';
import { du } from './du.js';
import { crmStream, newRepo, sha256Of, tempLocal } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

/** The same table dumped twice, the second time with 1% more rows appended: the second costs little. */
describe('deduplication', () => {
  it('stores a re-dump with 1% appended in < 1.1x the space of one dump (local folder)', async () => {
    const local = await tempLocal();
    cleanups.push(local.cleanup);
    const { repo } = await newRepo({ workers: 2 }, local.storage);
    // The acceptance size; CRMB_DEDUP_MB makes it smaller for quick local runs.
    const size = Number(process.env.CRMB_DEDUP_MB ?? 500) * 1024 * 1024;
    const extra = Math.floor(size / 100);
    const first = await repo.writeStream(crmStream(size));
    const one = await du(local.dir);
    // Rows continue where the first dump ended: an append, as a growing CRM table would dump.
    async function* grown(): AsyncGenerator<Uint8Array> {
      yield* crmStream(size);
      yield* crmStream(extra, 10_000_000);
    }
    const second = await repo.writeStream(grown());
    const two = await du(local.dir);
    const shared = second.chunks.filter((c) => first.chunks.includes(c)).length;
    expect(shared).toBeGreaterThan(first.chunks.length - 3);
    expect(two).toBeLessThan(1.1 * one);
    expect((await sha256Of(repo.readStream(second))).bytes).toBe(size + extra);
    await repo.close();
  });
});
