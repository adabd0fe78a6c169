/**
 * writeStream: cut the input into content-defined chunks and store them with at most `inFlight` chunks
 * of this stream (and the repository-wide byte budget) in flight. While the pool compresses and the
 * backend uploads chunk n, this loop is already reading and cutting chunk n+1; when the window is full
 * it stops pulling from the source, which is the backpressure.
 */
import { AbortError, throwIfAborted } from '../util/errors.js';
import type { StreamRef, WriteStreamOptions } from './repository-api.js';
import type { ChunkStore } from './chunk-store.js';
import { Chunker } from './chunker.js';
import type { ChunkerParams } from './format.js';
import { Budget } from './limiter.js';

export interface WriterDeps {
  readonly store: ChunkStore;
  readonly params: ChunkerParams;
  readonly gear: Int32Array;
  readonly inFlight: number;
}

export async function writeChunkedStream(
  deps: WriterDeps,
  data: AsyncIterable<Uint8Array>,
  opts: WriteStreamOptions & { lockSignal?: AbortSignal } = {},
): Promise<StreamRef> {
  const { store } = deps;
  const signal =
    opts.lockSignal && opts.signal
      ? AbortSignal.any([opts.signal, opts.lockSignal])
      : (opts.signal ?? opts.lockSignal);
  const chunker = new Chunker(deps.params, deps.gear);
  const window = new Budget(deps.inFlight);
  const active = new Set<Promise<void>>();
  const chunks: string[] = [];
  const sizes: number[] = [];
  let failure: unknown;
  let bytes = 0;

  const dispatch = async (chunk: Uint8Array): Promise<void> => {
    await window.acquire(1);
    await store.memory.acquire(chunk.length);
    const size = chunk.length;
    const id = store.idOf(chunk);
    chunks.push(id);
    sizes.push(size);
    const task: Promise<void> = store
      .store(id, chunk, signal)
      .catch((e: unknown) => {
        failure ??= e;
      })
      .finally(() => {
        active.delete(task);
        window.release(1);
        store.memory.release(size);
      });
    active.add(task);
  };

  const check = (): void => {
    if (signal?.aborted) throw new AbortError('interrupted', { cause: signal.reason });
    if (failure !== undefined) throw failure;
  };

  try {
    for await (const buf of data) {
      check();
      for (const chunk of chunker.push(buf)) {
        await dispatch(chunk);
        check();
      }
      bytes += buf.length;
      opts.onProgress?.(bytes);
    }
    const last = chunker.finish();
    if (last) await dispatch(last);
    while (active.size > 0) await Promise.all(active);
    check();
  } finally {
    // On failure or abort, let uploads already started settle so nothing runs on after we return.
    while (active.size > 0) await Promise.allSettled(active);
  }
  throwIfAborted(signal);
  return { chunks, sizes, bytes };
}
