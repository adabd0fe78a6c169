/**
 * The envelope every encrypted object uses: AES-256-GCM with a random 12-byte nonce, the header and the
 * object id as associated data (so an object cannot be swapped for another or retyped unnoticed), and
 * HMAC-SHA-256 with a separate key for object ids (so ids reveal nothing about content without the key).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import {
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  HEADER_LEN,
  MAGIC_LEN,
  NONCE_LEN,
  OBJECT_TYPE,
  TAG_LEN,
  type ObjectType,
} from './format.js';

/** The two secrets a key file unlocks. */
export interface MasterKeys {
  /** AES-256-GCM key for every object. */
  readonly encKey: Uint8Array;
  /** HMAC-SHA-256 key for object ids, source hashes and the chunker's gear table. */
  readonly idKey: Uint8Array;
}

/** Why an object failed to open; callers turn it into an IntegrityError that names what it affects. */
export class ObjectDamage extends Error {
  constructor(readonly reason: string) {
    super(reason);
  }
}

export function hmacHex(key: Uint8Array, ...parts: (Uint8Array | string)[]): string {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

export function randomHex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

export function buildHeader(type: ObjectType, compression: number, nonce: Uint8Array): Buffer {
  const header = Buffer.alloc(HEADER_LEN);
  header.set(ENVELOPE_MAGIC, 0);
  header[MAGIC_LEN] = ENVELOPE_VERSION;
  header[MAGIC_LEN + 1] = OBJECT_TYPE[type];
  header[MAGIC_LEN + 2] = compression;
  header[MAGIC_LEN + 3] = 0;
  header.set(nonce, MAGIC_LEN + 4);
  return header;
}

/** Encrypts `body` (already compressed or not, as `compression` says) into a complete object. */
export function seal(
  key: Uint8Array,
  type: ObjectType,
  id: string,
  compression: number,
  body: Uint8Array,
): Buffer {
  const header = buildHeader(type, compression, randomBytes(NONCE_LEN));
  const cipher = createCipheriv('aes-256-gcm', key, header.subarray(MAGIC_LEN + 4, HEADER_LEN));
  cipher.setAAD(Buffer.concat([header, Buffer.from(id, 'latin1')]));
  const ct = cipher.update(body);
  const fin = cipher.final();
  return Buffer.concat([header, ct, fin, cipher.getAuthTag()]);
}

/** Authenticates and decrypts an object; returns the compression byte and the (possibly compressed) body. */
export function unseal(
  key: Uint8Array,
  type: ObjectType,
  id: string,
  object: Uint8Array,
): { compression: number; body: Buffer } {
  if (object.length < HEADER_LEN + TAG_LEN)
    throw new ObjectDamage(`object is ${object.length} bytes, shorter than an empty envelope`);
  for (let i = 0; i < MAGIC_LEN; i++) {
    if (object[i] !== ENVELOPE_MAGIC[i]) throw new ObjectDamage('object does not start with the CRMB magic');
  }
  if (object[MAGIC_LEN] !== ENVELOPE_VERSION)
    throw new ObjectDamage(`unknown envelope version ${object[MAGIC_LEN]}`);
  if (object[MAGIC_LEN + 1] !== OBJECT_TYPE[type])
    throw new ObjectDamage(
      `object type byte is ${object[MAGIC_LEN + 1]}, expected ${OBJECT_TYPE[type]} (${type})`,
    );
  const header = object.subarray(0, HEADER_LEN);
  const decipher = createDecipheriv('aes-256-gcm', key, header.subarray(MAGIC_LEN + 4));
  decipher.setAAD(Buffer.concat([header, Buffer.from(id, 'latin1')]));
  decipher.setAuthTag(object.subarray(object.length - TAG_LEN));
  try {
    const body = Buffer.concat([
      decipher.update(object.subarray(HEADER_LEN, object.length - TAG_LEN)),
      decipher.final(),
    ]);
    return { compression: object[MAGIC_LEN + 2] ?? -1, body };
  } catch {
    throw new ObjectDamage(
      'authentication failed (the object was modified, truncated or stored under another id)',
    );
  }
}
