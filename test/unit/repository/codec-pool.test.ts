import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { createChunkCodec } from '../../../src/repository/codec-pool.js';
import { zstdParameters } from '../../../src/repository/codec.js';
import { ObjectDamage, hmacHex } from '../../../src/repository/crypto.js';
import { crmRow, randomBytesSeeded } from './helpers.js';

/** The worker's codec is a JS string mirroring codec.ts: each must read what the other writes. */
describe('chunk codec: worker pool and inline agree', () => {
  const keys = { encKey: randomBytes(32), idKey: randomBytes(32) };
  const samples = [
    Buffer.from(Array.from({ length: 3000 }, (_, i) => crmRow(i)).join('')),
    Buffer.from(randomBytesSeeded(70_000, 3)),
    Buffer.from('x'),
  ];

  for (const [writer, reader] of [[0, 2], [2, 0], [2, 2]] as const) {
    it(`written with workers=${writer}, read with workers=${reader}`, async () => {
      const w = createChunkCodec(keys, { workers: writer, level: 3 });
      const r = createChunkCodec(keys, { workers: reader, level: 3 });
      try {
        for (const plain of samples) {
          const id = hmacHex(keys.idKey, plain);
          const object = await w.encode(id, Uint8Array.from(plain));
          // decode may take ownership of (detach) its input, like encode: give it a copy.
          expect(Buffer.compare(Buffer.from(await r.decode(id, Uint8Array.from(object))), plain)).toBe(0);
          const bad = Uint8Array.from(object);
          bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 1;
          await expect(r.decode(id, bad)).rejects.toBeInstanceOf(ObjectDamage);
          await expect(r.decode(hmacHex(keys.idKey, 'other'), Uint8Array.from(object))).rejects.toThrow(/authentication failed/);
        }
      } finally {
        await w.close();
        await r.close();
      }
    });
  }

  it('compresses with the same zstd parameters on both paths (the tuned level 3 included)', async () => {
    const plain = samples[0] as Buffer;
    const id = hmacHex(keys.idKey, plain);
    for (const level of [1, 3, 6]) {
      const inline = createChunkCodec(keys, { workers: 0, level });
      const pool = createChunkCodec(keys, { workers: 1, level });
      try {
        // same length means the same frame: nonces differ, the compressed body does not
        const a = await inline.encode(id, Uint8Array.from(plain));
        const b = await pool.encode(id, Uint8Array.from(plain));
        expect(b.length).toBe(a.length);
      } finally {
        await inline.close();
        await pool.close();
      }
    }
    // the tuning is what level 3 writes: not the library's level-3 frame
    const tuned = compress(plain, zstdParameters(3));
    expect(tuned.length).not.toBe(compress(plain, { compressionLevel: 3 }).length);
    expect(Buffer.compare(decompress(tuned), plain)).toBe(0);
  });
});
