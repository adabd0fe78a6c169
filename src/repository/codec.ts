/**
 * Object bodies: zstd-compress then seal, and the reverse. Used on the main thread for manifests, locks
 * and (when no worker threads are configured) chunks; codec-worker-source.ts does the same for chunks
 * in worker threads, and a unit test checks both produce objects the other reads.
 */
import { compress, decompress } from 'zstd-napi';
import { hmacHex, ObjectDamage, seal, unseal, type MasterKeys } from './crypto.js';
import { COMPRESSION, type ObjectType } from './format.js';

export function encodeObject(
  keys: MasterKeys,
  type: ObjectType,
  id: string,
  plaintext: Uint8Array,
  level: number,
): Buffer {
  if (plaintext.length === 0) return seal(keys.encKey, type, id, COMPRESSION.none, plaintext);
  const packed = compress(plaintext, { compressionLevel: level });
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
