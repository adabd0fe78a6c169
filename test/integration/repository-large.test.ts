/**
 * A stream far larger than memory bounds: written and read back through the local folder backend with
 * peak RSS growth under a loose bound. Size from CRMB_LARGE_BYTES (default 2 GiB); the data is
 * pseudo-random 1 MiB blocks generated on the fly, so neither side ever holds the stream.
 */
import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CHEAP, newRepo, randomBytesSeeded, tempLocal } from '../unit/repository/helpers.js';

const BYTES = Number(process.env['CRMB_LARGE_BYTES'] ?? 2 * 1024 * 1024 * 1024);
const BLOCK = 1 << 20;
const RSS_BOUND = 400 * 1024 * 1024;

async function* generated(hash: ReturnType<typeof createHash>): AsyncGenerator<Uint8Array> {
  for (let off = 0, i = 1; off < BYTES; off += BLOCK, i++) {
    const block = randomBytesSeeded(Math.min(BLOCK, BYTES - off), i);
    hash.update(block);
    yield block;
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

describe(`large stream (${(BYTES / 2 ** 30).toFixed(2)} GiB, CRMB_LARGE_BYTES)`, () => {
  it('round-trips with bounded memory', { timeout: 600_000 }, async () => {
    const local = await tempLocal();
    cleanups.push(local.cleanup);
    const { repo } = await newRepo({ ...CHEAP, workers: 2 }, local.storage);
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    try {
      const written = createHash('sha256');
      const ref = await repo.writeStream(generated(written));
      expect(ref.bytes).toBe(BYTES);
      const read = createHash('sha256');
      let n = 0;
      for await (const p of repo.readStream(ref, { context: 'large test' })) {
        read.update(p);
        n += p.length;
      }
      expect(n).toBe(BYTES);
      expect(read.digest('hex')).toBe(written.digest('hex'));
    } finally {
      clearInterval(sampler);
      await repo.close();
    }
    console.log(`large stream: peak RSS growth ${((peak - base) / 2 ** 20).toFixed(0)} MiB`);
    expect(peak - base).toBeLessThan(RSS_BOUND);
  });
});
