/**
 * readStream: fetch a few chunks ahead, authenticate and decompress each (in the codec pool), check the
 * plaintext has the recorded size, and yield in order. The GCM tag covers the chunk id, so an
 * object that was modified, truncated or stored under another id fails authentication; re-hashing
 * the plaintext (a third of a restore's client CPU) is left to verify --read-data. Any mismatch or
 * missing chunk is an IntegrityError naming the chunk and where it is used; nothing wrong is yielded.
 */
import { IntegrityError, throwIfAborted } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type { StreamRef } from './repository-api.js';
import type { ChunkCodec } from './codec-pool.js';
import { ObjectDamage } from './crypto.js';
import { chunkKey } from './format.js';
import { isNotFound, readObject } from './object-io.js';

export interface ReaderDeps {
  readonly storage: StorageBackend;
  readonly codec: ChunkCodec;
  readonly readAhead: number;
  /** Recompute each chunk's id from its plaintext (verify); the GCM tag already binds it. */
  readonly checkIds?: boolean;
}

export function chunkDamage(
  id: string,
  context: string | undefined,
  reason: string,
  cause?: unknown,
): IntegrityError {
  const where = context ?? 'a stream';
  return new IntegrityError(
    `Chunk ${id} used by ${where} is damaged (${reason}); run "crm-backup verify --read-data" to list everything it affects.`,
    { what: `chunk ${id}`, where: context, cause },
  );
}

export async function fetchChunk(
  deps: ReaderDeps,
  id: string,
  size: number | undefined,
  context?: string,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  let object: Uint8Array;
  try {
    object = await readObject(deps.storage, chunkKey(id), signal);
  } catch (e) {
    if (isNotFound(e)) throw chunkDamage(id, context, 'the object is missing', e);
    throw e;
  }
  let plain: Uint8Array;
  try {
    plain = await deps.codec.decode(id, object, { checkId: deps.checkIds !== false });
  } catch (e) {
    if (e instanceof ObjectDamage) throw chunkDamage(id, context, e.reason, e);
    throw e;
  }
  if (size !== undefined && plain.length !== size) {
    throw chunkDamage(id, context, `plaintext is ${plain.length} bytes, the manifest says ${size}`);
  }
  return plain;
}

export async function* readChunkedStream(
  deps: ReaderDeps,
  ref: StreamRef,
  opts: { signal?: AbortSignal; context?: string } = {},
): AsyncGenerator<Uint8Array> {
  const { signal, context } = opts;
  const queue: Promise<Uint8Array>[] = [];
  let next = 0;
  const startNext = (): void => {
    const i = next++;
    const p = fetchChunk(deps, ref.chunks[i] as string, ref.sizes[i], context, signal);
    // Prefetched chunks may be abandoned when the consumer stops early; their errors are not news then.
    p.catch(() => undefined);
    queue.push(p);
  };
  while (queue.length < deps.readAhead && next < ref.chunks.length) startNext();
  while (queue.length > 0) {
    throwIfAborted(signal);
    const data = await (queue.shift() as Promise<Uint8Array>);
    if (next < ref.chunks.length) startNext();
    yield data;
  }
}
