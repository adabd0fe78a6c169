/**
 * Key and prefix validation shared by every backend, so a key that one backend
 * accepts is accepted by all of them and a repository can move between them.
 */
import { StorageError } from '../util/errors.js';

/** Basename prefix of in-flight local writes; keys may not use it, or list() would hide them. */
export const TEMP_PREFIX = '.tmp-';

function reject(key: string, why: string): never {
  throw new StorageError(
    `Storage key ${JSON.stringify(key)} ${why}; expected a relative path like "data/ab/abcdef".`,
    {
      key,
      permanent: true,
    },
  );
}

function checkSegments(key: string, segments: readonly string[]): void {
  for (const s of segments) {
    if (s === '') reject(key, 'has an empty path segment');
    if (s === '.' || s === '..') reject(key, `contains a "${s}" segment`);
    if (s.startsWith(TEMP_PREFIX))
      reject(key, `has a segment starting with "${TEMP_PREFIX}", which is reserved for temporary files`);
  }
}

/** Throws a permanent StorageError unless `key` is a `/`-separated relative path without `.`/`..`/empty segments. */
export function assertValidKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) reject(String(key), 'is empty');
  if (key.startsWith('/')) reject(key, 'is absolute');
  // Backslashes and NUL would mean different things on different file systems and object stores.
  if (key.includes('\\')) reject(key, 'contains a backslash');
  if (key.includes('\0')) reject(key, 'contains a NUL character');
  checkSegments(key, key.split('/'));
}

/**
 * A list prefix is a plain string prefix of keys (`data/a` matches `data/ab/…`), like S3.
 * The empty prefix lists everything. Every complete segment must be a valid key segment.
 */
export function assertValidPrefix(prefix: string): void {
  if (prefix === '') return;
  if (prefix.startsWith('/')) reject(prefix, 'is absolute');
  if (prefix.includes('\\') || prefix.includes('\0')) reject(prefix, 'contains a backslash or NUL character');
  const segments = prefix.split('/');
  // The last segment may be partial (or empty after a trailing slash); only the complete ones are checked.
  segments.pop();
  checkSegments(prefix, segments);
}

/** Validates a range argument; ranges are clipped at the end of the object by every backend. */
export function assertValidRange(key: string, range: { offset: number; length: number }): void {
  const ok = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  if (!ok(range.offset) || !ok(range.length)) {
    throw new StorageError(
      `Byte range {offset: ${range.offset}, length: ${range.length}} for ${JSON.stringify(key)} is invalid; expected non-negative integers.`,
      { key, permanent: true },
    );
  }
}
