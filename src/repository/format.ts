/**
 * Named constants of the on-disk format. docs/FORMAT.md describes the same bytes; change both together.
 */

/** Major format version this code writes and reads; a newer major is refused, an older one is not expected yet. */
export const FORMAT_MAJOR = 1;
/** 1.2: drill records (`drills/`) and per-table checksums in snapshot manifests; 1.1 readers ignore both. */
export const FORMAT_MINOR = 2;
/** `format` field of the config object, so a stray JSON file is not mistaken for a repository. */
export const CONFIG_FORMAT_NAME = 'crm-backup-repository';

/** Every encrypted object starts with these four ASCII bytes ("CRMB"). */
export const ENVELOPE_MAGIC = Uint8Array.of(0x43, 0x52, 0x4d, 0x42);
export const ENVELOPE_VERSION = 1;
export const MAGIC_LEN = 4;
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
/** magic(4) version(1) type(1) compression(1) reserved(1) nonce(12). */
export const HEADER_LEN = MAGIC_LEN + 4 + NONCE_LEN;
export const ENVELOPE_OVERHEAD = HEADER_LEN + TAG_LEN;

/** Object type byte; part of the authenticated header, so an object of one type cannot pose as another. */
export const OBJECT_TYPE = { chunk: 1, snapshot: 2, segment: 3, lock: 4, hold: 5, notice: 6, drill: 7 } as const;
export type ObjectType = keyof typeof OBJECT_TYPE;

/** Compression byte. Chunks that zstd does not shrink are stored raw (random or already compressed data). */
export const COMPRESSION = { none: 0, zstd: 1 } as const;

export const KEY_LEN = 32;
/** The key file checksum (SHA-256 of the JSON body) that lets us tell a damaged key file from a wrong password. */
export const KEY_FILE_CHECKSUM_LEN = 32;
export const KEY_FILE_VERSION = 1;
export const SCRYPT_SALT_LEN = 32;
/** Random ids of key files and locks: 16 bytes, 32 hex characters. */
export const RANDOM_ID_LEN = 16;
/** Source names are hashed into storage keys (`segments/<hash>/`), truncated to 16 bytes, 32 hex characters. */
export const SOURCE_HASH_LEN = 16;

export const DEFAULT_CHUNKER = { min: 256 * 1024, avg: 1024 * 1024, max: 4 * 1024 * 1024 } as const;
export interface ChunkerParams {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
}

/** Domain-separation labels fed to HMAC-SHA-256 with the id key. */
export const LABEL_GEAR = 'crm-backup gear v1';
export const LABEL_SOURCE = 'crm-backup source v1';
export const LABEL_CONFIG = 'crm-backup config v1';
export const LABEL_KEY_AAD = 'crm-backup key v1';
/** Local caches about a repository (never stored in it), e.g. copy's record of what each manifest is. */
export const LABEL_LOCAL_CACHE = 'crm-backup local cache v1';

/** Storage key layout. */
export const PATHS = {
  config: 'config',
  keys: 'keys/',
  data: 'data/',
  snapshots: 'snapshots/',
  segments: 'segments/',
  locks: 'locks/',
  /** What a lock holder still needs (`holds/<lock id>`) and what a running prune is about to delete (`notices/<lock id>`). */
  holds: 'holds/',
  notices: 'notices/',
  /** Drill records (`drills/<source hash>/<id>`), format 1.2. */
  drills: 'drills/',
} as const;

export function chunkKey(id: string): string {
  return `${PATHS.data}${id.slice(0, 2)}/${id}`;
}
