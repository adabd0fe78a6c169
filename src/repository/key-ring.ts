/**
 * Opening a repository with a password, and the key management commands (`crm-backup key add|list|remove`).
 */
import { RepositoryError } from '../util/errors.js';
import type { Secret } from '../util/redact.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import { checkConfigMac, readConfig } from './config.js';
import { randomHex, type MasterKeys } from './crypto.js';
import { PATHS, RANDOM_ID_LEN } from './format.js';
import {
  calibrateScrypt,
  createKeyFile,
  parseKeyFile,
  unwrapKeyFile,
  type KeyFile,
  type ScryptParams,
} from './keys.js';
import { DEFAULT_LOCK_TIMING, LockManager } from './locks.js';
import { readObject } from './object-io.js';

export interface KeyInfo {
  readonly id: string;
  readonly label?: string;
  readonly created: string;
  readonly host?: string;
  /** True for the key the given password opened. */
  readonly current: boolean;
}

export async function listKeyIds(storage: StorageBackend): Promise<string[]> {
  const ids: string[] = [];
  for await (const o of storage.list(PATHS.keys)) ids.push(o.key.slice(PATHS.keys.length));
  return ids.sort();
}

async function readKeyFile(storage: StorageBackend, id: string): Promise<KeyFile> {
  return parseKeyFile(storage.location, id, await readObject(storage, `${PATHS.keys}${id}`));
}

/**
 * Tries every key file with the password. A damaged key file is skipped while another may still open;
 * if none opens, the damage is reported before "wrong password", since it is the likelier explanation.
 */
export async function unlock(
  storage: StorageBackend,
  repoId: string,
  password: Secret,
): Promise<{ keys: MasterKeys; keyId: string }> {
  const ids = await listKeyIds(storage);
  if (ids.length === 0) {
    throw new RepositoryError(
      `The repository at ${storage.location} has no key files (keys/ is empty); restore them from a copy of the repository.`,
    );
  }
  let damaged: RepositoryError | undefined;
  for (const id of ids) {
    let file: KeyFile;
    try {
      file = await readKeyFile(storage, id);
    } catch (e) {
      if (!(e instanceof RepositoryError)) throw e;
      damaged ??= e;
      continue;
    }
    const keys = await unwrapKeyFile(file, repoId, id, password);
    if (keys) return { keys, keyId: id };
  }
  if (damaged) throw damaged;
  throw new RepositoryError(`The password does not open any key of the repository at ${storage.location}.`);
}

async function open(
  storage: StorageBackend,
  password: Secret,
): Promise<{ repoId: string; keys: MasterKeys; keyId: string }> {
  const config = await readConfig(storage);
  const { keys, keyId } = await unlock(storage, config.id, password);
  checkConfigMac(storage, config, keys);
  return { repoId: config.id, keys, keyId };
}

/** Adds a key file for `newPassword`; `currentPassword` must open an existing key. Returns the new key id. */
export async function addKey(
  storage: StorageBackend,
  currentPassword: Secret,
  newPassword: Secret,
  opts: { label?: string; scrypt?: ScryptParams } = {},
): Promise<{ id: string }> {
  const { repoId, keys } = await open(storage, currentPassword);
  const id = randomHex(RANDOM_ID_LEN);
  const params = opts.scrypt ?? (await calibrateScrypt());
  await storage.put(
    `${PATHS.keys}${id}`,
    await createKeyFile(repoId, id, keys, newPassword, params, opts.label),
    { ifAbsent: true },
  );
  return { id };
}

export async function listKeys(storage: StorageBackend, password: Secret): Promise<KeyInfo[]> {
  const { keyId } = await open(storage, password);
  const out: KeyInfo[] = [];
  for (const id of await listKeyIds(storage)) {
    try {
      const f = await readKeyFile(storage, id);
      out.push({
        id,
        created: f.created,
        current: id === keyId,
        ...(f.label !== undefined ? { label: f.label } : {}),
        host: f.host,
      });
    } catch (e) {
      if (!(e instanceof RepositoryError)) throw e;
      out.push({ id, created: '', current: false, label: '(damaged key file)' });
    }
  }
  return out;
}

/**
 * Removes a key file named by its id or a unique prefix of it (as `key list` shows them) and returns
 * the full id; refuses an ambiguous prefix, the key the password opened (lock-out risk) and the last key.
 */
export async function removeKey(
  storage: StorageBackend,
  password: Secret,
  idOrPrefix: string,
): Promise<{ id: string }> {
  const { keyId: current, keys } = await open(storage, password);
  // Two removals at once, each opened by the other's key, would pass every check below and leave
  // no key at all: the checks and the deletion run under the repository's `keys` lock.
  const locks = new LockManager(storage, keys, DEFAULT_LOCK_TIMING);
  const lock = await locks.acquire('keys', { purpose: 'key remove' });
  try {
    return { id: await removeLocked(storage, current, idOrPrefix) };
  } finally {
    await lock.release();
  }
}

/** The one key id equal to or starting with `idOrPrefix`. */
function resolveKeyId(location: string, ids: readonly string[], idOrPrefix: string): string {
  if (ids.includes(idOrPrefix)) return idOrPrefix;
  const matches = idOrPrefix === '' ? [] : ids.filter((id) => id.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0)
    throw new RepositoryError(
      `The repository at ${location} has no key ${idOrPrefix}; "crm-backup key list" shows the key ids.`,
    );
  throw new RepositoryError(
    `Key prefix ${idOrPrefix} matches ${matches.length} keys of the repository at ${location} (${matches.join(', ')}); give more of the id.`,
  );
}

async function removeLocked(storage: StorageBackend, current: string, idOrPrefix: string): Promise<string> {
  const ids = await listKeyIds(storage);
  if (!ids.includes(current))
    throw new RepositoryError(
      `The key this password opened (${current}) was removed from the repository at ${storage.location} meanwhile; nothing was removed.`,
    );
  const keyId = resolveKeyId(storage.location, ids, idOrPrefix);
  if (keyId === current) {
    throw new RepositoryError(
      `Key ${keyId} is the one this password opened; remove it using another key's password so you cannot lock yourself out.`,
    );
  }
  if (ids.length <= 1)
    throw new RepositoryError(
      `Key ${keyId} is the last key of the repository at ${storage.location}; add another key before removing it.`,
    );
  await storage.delete(`${PATHS.keys}${keyId}`);
  return keyId;
}
