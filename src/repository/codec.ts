/**
 * Object bodies: zstd-compress then seal, and the reverse. Used on the main thread for manifests, locks
 * and (when no worker threads are configured) chunks; codec-worker-source.ts does the same for chunks
 * in worker threads, and a unit test checks both produce objects the other reads.
 */
import { compress, decompress } from 'zstd-napi';
import { hmacHex, ObjectDamage, seal, unseal, type MasterKeys } from './crypto.js';
import { COMPRESSION, type ObjectType } from './format.js';

/**
 * zstd parameters for a level: the level's own, except where a measured tuning is as small and
 * faster. Level 3 (the MySQL/MariaDB snapshot default) on 1 MiB chunks of CRM rows and SQL text:
 * hashLog 16, chainLog 15 and minMatch 6 compressed 10-15% faster than level 3's 17/16/5 and the
 * output was 0.1-0.6% smaller. Level 5 (the PostgreSQL snapshot default) with minMatch 6: 20-35%
 * faster than level 6 on PostgreSQL COPY text and 1% larger at most (bench/README.md, "zstd
 * parameters"). Any zstd decoder reads the frames: parameters are not part of the format.
 */
export function zstdParameters(level: number): {
  compressionLevel: number;
  hashLog?: number;
  chainLog?: number;
  minMatch?: number;
} {
  if (level === 3) return { compressionLevel: 3, hashLog: 16, chainLog: 15, minMatch: 6 };
  if (level === 5) return { compressionLevel: 5, minMatch: 6 };
  return { compressionLevel: level };
}

export function encodeObject(
  keys: MasterKeys,
  type: ObjectType,
  id: string,
  plaintext: Uint8Array,
  level: number,
): Buffer {
  if (plaintext.length === 0) return seal(keys.encKey, type, id, COMPRESSION.none, plaintext);
  const packed = compress(plaintext, zstdParameters(level));
  // Incompressible data (random, already compressed) is stored raw: no expansion, and decoding is a copy.
  return packed.length < plaintext.length
    ? seal(keys.encKey, type, id, COMPRESSION.zstd, packed)
    : seal(keys.encKey, type, id, COMPRESSION.none, plaintext);
}

export function decodeObject(keys: MasterKeys, type: ObjectType, id: string, object: Uint8Array): Buffer {
  const { compression, body } = unseal(keys.encKey, type, id, object);
  if (compression === COMPRESSION.none) return body;
  if (compression !== COMPRESSION.zstd) throw new ObjectDamage(`unknown compression byte ${compression}`);
  try {
    return decompress(body);
  } catch (e) {
    throw new ObjectDamage(`zstd frame is invalid (${(e as Error).message})`);
  }
}

/** Decodes a content-addressed object (chunk or manifest) and checks that its id is the keyed hash of its plaintext. */
export function decodeAddressed(keys: MasterKeys, type: ObjectType, id: string, object: Uint8Array): Buffer {
  const plain = decodeObject(keys, type, id, object);
  const actual = hmacHex(keys.idKey, plain);
  if (actual !== id) throw new ObjectDamage(`plaintext hashes to ${actual.slice(0, 16)}…, not to its id`);
  return plain;
}
