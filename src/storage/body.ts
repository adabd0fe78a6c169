/**
 * Put bodies: either bytes in memory or a pull-based stream. A stream can be read
 * once, so a failed put of a plain AsyncIterable cannot be retried; a caller that
 * can produce the body again wraps a factory with `replayableBody()` and gets retries.
 */
export type PutBody = Uint8Array | AsyncIterable<Uint8Array>;

const REPLAYABLE: unique symbol = Symbol('crm-backup.replayableBody');

/** An AsyncIterable whose every `for await` starts a fresh stream from the factory. */
export interface ReplayableBody extends AsyncIterable<Uint8Array> {
  readonly [REPLAYABLE]: true;
}

/** Marks a body as safe to read more than once (e.g. a file or a buffer list re-read on each attempt). */
export function replayableBody(factory: () => AsyncIterable<Uint8Array>): ReplayableBody {
  return {
    [REPLAYABLE]: true,
    [Symbol.asyncIterator]: () => factory()[Symbol.asyncIterator](),
  };
}

export function isReplayable(body: PutBody): body is Uint8Array | ReplayableBody {
  return body instanceof Uint8Array || (REPLAYABLE in body && body[REPLAYABLE] === true);
}

/** Iterates a body as chunks, whichever form it has. */
export async function* chunksOf(body: PutBody): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) {
    yield body;
    return;
  }
  yield* body;
}

export { collectBytes } from '../util/bytes.js';

/** Wraps a failure of the caller's body stream, so backends do not mistake it for (and retry it as) a store failure. */
export class BodySourceError extends Error {}

/** Re-throws the body's own errors wrapped in BodySourceError; backends unwrap and pass the original on. */
export async function* markSourceErrors(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  try {
    for (;;) {
      let r: IteratorResult<Uint8Array>;
      try {
        r = await it.next();
      } catch (e) {
        throw new BodySourceError('put body failed', { cause: e });
      }
      if (r.done) return;
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}
