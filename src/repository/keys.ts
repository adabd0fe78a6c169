/**
 * Key files (`keys/<id>`): the master keys wrapped with AES-256-GCM under a key derived from a password
 * by scrypt. A SHA-256 of the body in front lets us tell a damaged key file (checksum mismatch) from a
 * wrong password (checksum fine, authentication fails). Several key files may open one repository.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scrypt } from 'node:crypto';
import { hostname } from 'node:os';
import { RepositoryError } from '../util/errors.js';
import { Secret } from '../util/redact.js';
import type { MasterKeys } from './crypto.js';
import {
  KEY_FILE_CHECKSUM_LEN,
  KEY_FILE_VERSION,
  KEY_LEN,
  LABEL_KEY_AAD,
  NONCE_LEN,
  SCRYPT_SALT_LEN,
  TAG_LEN,
} from './format.js';

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export interface KeyFile {
  readonly version: number;
  readonly created: string;
  readonly host: string;
  readonly label?: string;
  readonly kdf: 'scrypt';
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: string;
  readonly nonce: string;
  readonly data: string;
}

/** What one derivation holds in memory: the N-block table and the p lanes (OpenSSL's layout). */
export function scryptMemoryBytes(params: ScryptParams): number {
  return 128 * params.r * (params.N + params.p + 2);
}

/**
 * Largest cost a key file may ask for, so that an edited one (its checksum is not keyed) cannot
 * make every command exhaust the machine: memory up to 1 GiB (N = 2^20 with r = 8, the most the
 * old calibration chose), work N·r·p up to 2^25 (16 times a 0.4 s derivation here: seconds).
 */
const MAX_N = 1 << 20;
const MAX_MEMORY = (1 << 30) + (1 << 20);
const MAX_WORK = 2 ** 25;

/** Default memory for one derivation (restic's is 60 MiB): N = 2^16 with r = 8 is 64 MiB and the lanes. */
export const SCRYPT_MEMORY_BYTES = 65 * 1024 * 1024;

export function deriveKey(password: Secret, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  const { N, r, p } = params;
  // node refuses to allocate above maxmem: allow what the parameters need, with room to spare
  const maxmem = 2 * scryptMemoryBytes(params) + (1 << 20);
  return new Promise((resolve, reject) =>
    scrypt(password.reveal(), salt, KEY_LEN, { N, r, p, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/**
 * Parameters whose derivation takes about `targetMs` (0.3-0.5 s by default) on this machine in at
 * most `maxMemory` bytes: N doubles from 2^14 up to what the memory allows, then p (lanes run one
 * after the other, each over the same table) makes up the remaining time. Memory is capped
 * because every command derives a key: a fast machine must not make `list` take a gigabyte.
 */
/**
 * The least work (N·p at r = 8) a calibrated key is given: 2^17, OWASP's scrypt minimum
 * (N = 2^17, r = 8, p = 1). Calibration measures the machine; on a loaded one it would otherwise
 * choose a cost an idle attacker's machine breaks faster than intended.
 */
export const MIN_WORK = 1 << 17;

export async function calibrateScrypt(
  targetMs = 400,
  maxMemory = SCRYPT_MEMORY_BYTES,
): Promise<ScryptParams> {
  const r = 8;
  const probe = { N: 1 << 14, r, p: 1 };
  const t0 = performance.now();
  await deriveKey(new Secret('calibration'), randomBytes(SCRYPT_SALT_LEN), probe);
  const ms = Math.max(1, performance.now() - t0);
  // work grows with N·p: the number of probe-sized derivations that fill the target time
  const units = (targetMs * 1.25) / ms;
  let N = probe.N;
  while (N > 1024 && scryptMemoryBytes({ N, r, p: 1 }) > maxMemory) N /= 2;
  while (N < MAX_N && (N * 2) / probe.N <= units && scryptMemoryBytes({ N: N * 2, r, p: 1 }) <= maxMemory)
    N *= 2;
  // a busy machine measures a slow probe: the work never falls below MIN_WORK whatever it measured
  const timed = Math.max(1, Math.floor((units * probe.N) / N), Math.ceil(MIN_WORK / N));
  const p = Math.min(Math.floor(MAX_WORK / (N * r)), timed);
  return { N, r, p };
}

function wrapAad(repoId: string, keyId: string): Buffer {
  return Buffer.from(`${LABEL_KEY_AAD}\0${repoId}\0${keyId}`, 'utf8');
}

export async function createKeyFile(
  repoId: string,
  keyId: string,
  keys: MasterKeys,
  password: Secret,
  params: ScryptParams,
  label?: string,
): Promise<Uint8Array> {
  const salt = randomBytes(SCRYPT_SALT_LEN);
  const nonce = randomBytes(NONCE_LEN);
  const wrap = await deriveKey(password, salt, params);
  const cipher = createCipheriv('aes-256-gcm', wrap, nonce);
  cipher.setAAD(wrapAad(repoId, keyId));
  const ct = Buffer.concat([
    cipher.update(Buffer.concat([keys.encKey, keys.idKey])),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  const file: KeyFile = {
    version: KEY_FILE_VERSION,
    created: new Date().toISOString(),
    host: hostname(),
    ...(label !== undefined ? { label } : {}),
    kdf: 'scrypt',
    N: params.N,
    r: params.r,
    p: params.p,
    salt: salt.toString('base64'),
    nonce: nonce.toString('base64'),
    data: ct.toString('base64'),
  };
  const body = Buffer.from(JSON.stringify(file, null, 2) + '\n', 'utf8');
  return Buffer.concat([createHash('sha256').update(body).digest(), body]);
}

export function damagedKeyFile(location: string, keyId: string, why: string): RepositoryError {
  return new RepositoryError(
    `The key file keys/${keyId} of the repository at ${location} is damaged (${why}); open the repository with another key or restore that file from a copy.`,
  );
}

/** Parses a key file; throws the one-sentence "damaged" RepositoryError when its checksum or shape is wrong. */
export function parseKeyFile(location: string, keyId: string, raw: Uint8Array): KeyFile {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  if (buf.length <= KEY_FILE_CHECKSUM_LEN)
    throw damagedKeyFile(location, keyId, `it is only ${buf.length} bytes`);
  const body = buf.subarray(KEY_FILE_CHECKSUM_LEN);
  if (!createHash('sha256').update(body).digest().equals(buf.subarray(0, KEY_FILE_CHECKSUM_LEN))) {
    throw damagedKeyFile(location, keyId, 'its checksum does not match');
  }
  let f: KeyFile;
  try {
    f = JSON.parse(body.toString('utf8')) as KeyFile;
  } catch {
    throw damagedKeyFile(location, keyId, 'it is not valid JSON');
  }
  if (
    f.version !== KEY_FILE_VERSION ||
    f.kdf !== 'scrypt' ||
    ![f.N, f.r, f.p].every((n) => Number.isInteger(n) && n > 0) ||
    typeof f.salt !== 'string' ||
    typeof f.nonce !== 'string' ||
    typeof f.data !== 'string'
  ) {
    throw damagedKeyFile(location, keyId, `it is not a version ${KEY_FILE_VERSION} scrypt key file`);
  }
  if (
    f.N < 2 ||
    f.N > MAX_N ||
    (f.N & (f.N - 1)) !== 0 ||
    scryptMemoryBytes(f) > MAX_MEMORY ||
    f.N * f.r * f.p > MAX_WORK
  ) {
    throw damagedKeyFile(
      location,
      keyId,
      `its scrypt cost N=${f.N}, r=${f.r}, p=${f.p} is outside what crm-backup derives (N a power of two up to 2^20, at most 1 GiB of memory, N·r·p up to 2^25)`,
    );
  }
  return f;
}

/** Returns the master keys, or undefined when the password does not open this key file. */
export async function unwrapKeyFile(
  f: KeyFile,
  repoId: string,
  keyId: string,
  password: Secret,
): Promise<MasterKeys | undefined> {
  const wrap = await deriveKey(password, Buffer.from(f.salt, 'base64'), f);
  const ct = Buffer.from(f.data, 'base64');
  if (ct.length !== 2 * KEY_LEN + TAG_LEN) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', wrap, Buffer.from(f.nonce, 'base64'));
  decipher.setAAD(wrapAad(repoId, keyId));
  decipher.setAuthTag(ct.subarray(2 * KEY_LEN));
  try {
    const plain = Buffer.concat([decipher.update(ct.subarray(0, 2 * KEY_LEN)), decipher.final()]);
    return { encKey: plain.subarray(0, KEY_LEN), idKey: plain.subarray(KEY_LEN) };
  } catch {
    return undefined;
  }
}
