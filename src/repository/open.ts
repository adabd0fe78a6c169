/** initRepository and openRepository: the only ways to get a Repository. */
import { randomBytes } from 'node:crypto';
import { RepositoryError } from '../util/errors.js';
import type { Secret } from '../util/redact.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type { Repository } from './repository-api.js';
import { validateChunkerParams } from './chunker.js';
import { buildConfig, checkConfigMac, encodeConfig, readConfig } from './config.js';
import { randomHex, type MasterKeys } from './crypto.js';
import {
  CONFIG_FORMAT_NAME,
  DEFAULT_CHUNKER,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  KEY_LEN,
  PATHS,
  RANDOM_ID_LEN,
} from './format.js';
import { unlock } from './key-ring.js';
import { calibrateScrypt, createKeyFile } from './keys.js';
import { isExists } from './object-io.js';
import { CrmRepository, type RepositoryOptions } from './repository.js';

function alreadyExists(location: string): RepositoryError {
  return new RepositoryError(
    `${location} already holds a crm-backup repository (it has a config object); open it instead of running init again.`,
  );
}

/** Creates a repository: random master keys, the first key file, then the config object (the commit of init). */
export async function initRepository(
  storage: StorageBackend,
  password: Secret,
  opts: RepositoryOptions = {},
): Promise<Repository> {
  if (await storage.stat(PATHS.config)) throw alreadyExists(storage.location);
  const chunker = { ...DEFAULT_CHUNKER, ...opts.chunker };
  validateChunkerParams(chunker);
  const keys: MasterKeys = { encKey: randomBytes(KEY_LEN), idKey: randomBytes(KEY_LEN) };
  const repoId = randomHex(RANDOM_ID_LEN);
  const keyId = randomHex(RANDOM_ID_LEN);
  const params = opts.scrypt ?? (await calibrateScrypt());
  await storage.put(
    `${PATHS.keys}${keyId}`,
    await createKeyFile(repoId, keyId, keys, password, params, opts.keyLabel),
    { ifAbsent: true },
  );
  const config = buildConfig(
    {
      format: CONFIG_FORMAT_NAME,
      major: FORMAT_MAJOR,
      minor: FORMAT_MINOR,
      id: repoId,
      created: new Date().toISOString(),
      chunker,
    },
    keys,
  );
  try {
    await storage.put(PATHS.config, encodeConfig(config), { ifAbsent: true });
  } catch (e) {
    // Another init won the race: our key file is useless there, take it back.
    await storage.delete(`${PATHS.keys}${keyId}`).catch(() => undefined);
    if (isExists(e)) throw alreadyExists(storage.location);
    throw e;
  }
  return new CrmRepository(storage, keys, config, keyId, opts);
}

/** Opens an existing repository with any of its passwords. */
export async function openRepository(
  storage: StorageBackend,
  password: Secret,
  opts: RepositoryOptions = {},
): Promise<Repository> {
  const config = await readConfig(storage);
  const { keys, keyId } = await unlock(storage, config.id, password);
  checkConfigMac(storage, config, keys);
  return new CrmRepository(storage, keys, config, keyId, opts);
}
