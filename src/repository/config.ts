/**
 * The `config` object: plaintext JSON that says "this is a crm-backup repository", its format version
 * (readable before any key is opened, so a newer major is refused with a clear sentence) and its id.
 * A MAC with the id key, checked after unlocking, makes any edit of it detectable.
 */
import { RepositoryError } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import { hmacHex, type MasterKeys } from './crypto.js';
import { CONFIG_FORMAT_NAME, FORMAT_MAJOR, LABEL_CONFIG, PATHS, type ChunkerParams } from './format.js';
import { readObjectIfExists } from './object-io.js';

export interface RepositoryConfig {
  readonly format: string;
  readonly major: number;
  readonly minor: number;
  readonly id: string;
  readonly created: string;
  readonly chunker: ChunkerParams;
  readonly mac: string;
}

/** The bytes the MAC covers: the fields in this fixed order, serialised by JSON.stringify. */
function macInput(c: Omit<RepositoryConfig, 'mac'>): string {
  const { format, major, minor, id, created, chunker } = c;
  return JSON.stringify({
    format,
    major,
    minor,
    id,
    created,
    chunker: { min: chunker.min, avg: chunker.avg, max: chunker.max },
  });
}

export function buildConfig(fields: Omit<RepositoryConfig, 'mac'>, keys: MasterKeys): RepositoryConfig {
  return { ...fields, mac: hmacHex(keys.idKey, LABEL_CONFIG, macInput(fields)) };
}

export function encodeConfig(c: RepositoryConfig): Uint8Array {
  const { format, major, minor, id, created, chunker, mac } = c;
  return Buffer.from(`${JSON.stringify({ format, major, minor, id, created, chunker, mac }, null, 2)}\n`);
}

export function notARepository(location: string): RepositoryError {
  return new RepositoryError(
    `${location} is not a crm-backup repository (no config object); run "crm-backup init --repo ${location}" first.`,
  );
}

/** Reads and checks the config object; a missing one means "not a repository". */
export async function readConfig(storage: StorageBackend): Promise<RepositoryConfig> {
  const loc = storage.location;
  const raw = await readObjectIfExists(storage, PATHS.config);
  if (!raw) throw notARepository(loc);
  let c: Partial<RepositoryConfig>;
  try {
    c = JSON.parse(Buffer.from(raw).toString('utf8')) as Partial<RepositoryConfig>;
  } catch {
    throw damagedConfig(loc, 'it is not valid JSON');
  }
  if (c.format !== CONFIG_FORMAT_NAME)
    throw damagedConfig(loc, `its format field is not "${CONFIG_FORMAT_NAME}"`);
  if (typeof c.major !== 'number' || typeof c.minor !== 'number')
    throw damagedConfig(loc, 'it has no format version');
  if (c.major > FORMAT_MAJOR) {
    throw new RepositoryError(
      `The repository at ${loc} uses format version ${c.major}.${c.minor}, newer than this crm-backup reads (${FORMAT_MAJOR}.x); upgrade crm-backup to use it.`,
    );
  }
  const ch = c.chunker;
  if (
    typeof c.id !== 'string' ||
    !/^[0-9a-f]{32}$/.test(c.id) ||
    typeof c.created !== 'string' ||
    typeof c.mac !== 'string' ||
    !ch ||
    typeof ch.min !== 'number' ||
    typeof ch.avg !== 'number' ||
    typeof ch.max !== 'number'
  ) {
    throw damagedConfig(loc, 'a required field is missing or malformed');
  }
  return c as RepositoryConfig;
}

/** After unlocking: the config must carry our MAC, or someone edited it (e.g. chunker sizes or id). */
export function checkConfigMac(storage: StorageBackend, c: RepositoryConfig, keys: MasterKeys): void {
  const expected = hmacHex(keys.idKey, LABEL_CONFIG, macInput(c));
  if (expected !== c.mac) throw damagedConfig(storage.location, 'its MAC does not match (it was modified)');
}

function damagedConfig(location: string, why: string): RepositoryError {
  return new RepositoryError(
    `The config object of the repository at ${location} is damaged (${why}); restore it from a copy of the repository.`,
  );
}
