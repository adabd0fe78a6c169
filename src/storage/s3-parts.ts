/**
 * Cuts a put body into multipart-upload parts of exactly `partSize` bytes (the
 * last one shorter), holding at most one part in memory while it fills.
 */
import type { PutBody } from './body.js';

/** S3's limits: parts of at least 5 MiB except the last, at most 10,000 parts. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;

/** Yields at least one part (an empty one for an empty body). Each part is a fresh buffer (or a view of a Uint8Array body). */
export async function* cutParts(body: PutBody, partSize: number): AsyncIterable<Uint8Array> {
  if (body instanceof Uint8Array) {
    if (body.length === 0) yield body;
    for (let at = 0; at < body.length; at += partSize) yield body.subarray(at, at + partSize);
    return;
  }
  let buf: Buffer | undefined;
  let fill = 0;
  let yielded = false;
  for await (const chunk of body) {
    let at = 0;
    while (at < chunk.length) {
      buf ??= Buffer.allocUnsafe(partSize);
      const n = Math.min(partSize - fill, chunk.length - at);
      buf.set(chunk.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === partSize) {
        yield buf;
        yielded = true;
        // A new buffer, not a reused one: the previous part may still be uploading.
        buf = undefined;
        fill = 0;
      }
    }
  }
  if (fill > 0 || !yielded) yield buf ? buf.subarray(0, fill) : new Uint8Array(0);
}
