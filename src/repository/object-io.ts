/** Whole-object reads and create-only writes on top of the blob contract. */
import { StorageError } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import { collectBytes } from '../util/bytes.js';

/** Reads a whole object into one Uint8Array that owns its buffer (so it can be transferred to a worker). */
export async function readObject(
  storage: StorageBackend,
  key: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  // collectBytes allocates a fresh buffer, so the result owns it and can be transferred.
  return collectBytes(await storage.get(key, undefined, signal ? { signal } : undefined));
}

/** Reads an object, or undefined when it does not exist. */
export async function readObjectIfExists(
  storage: StorageBackend,
  key: string,
): Promise<Uint8Array | undefined> {
  try {
    return await readObject(storage, key);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof StorageError && e.reason === 'not-found';
}

export function isExists(e: unknown): boolean {
  return e instanceof StorageError && e.reason === 'exists';
}

/** Create-only put that treats "already there" as success: content-addressed objects are identical when ids match. */
export async function putAddressed(storage: StorageBackend, key: string, body: Uint8Array): Promise<void> {
  try {
    await storage.put(key, body, { ifAbsent: true });
  } catch (e) {
    if (!isExists(e)) throw e;
  }
}
