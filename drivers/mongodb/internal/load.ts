/**
 * The snapshot's per-collection stream, format `mongodb-bson/1`: the collection's documents as the
 * server returned them, raw BSON one after the other (what `mongodump` writes to a `.bson` file).
 * Restoring reads it back document by document across chunk boundaries and sends batches of the
 * same bytes in `insert` commands (raw-command.ts).
 */
import { concatBytes } from '../../../src/util/bytes.js';
import { documentLength } from './bson-raw.js';

export const LOAD_FORMAT = 'mongodb-bson/1';

/** Largest BSON document the server accepts, plus the room a command needs around it. */
export const MAX_BSON_BYTES = 16 * 1024 * 1024;

export class StreamFormatError extends Error {}

/** Whole documents out of a byte stream cut anywhere. */
export async function* documentsOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let pending = new Uint8Array(0);
  for await (const chunk of chunks) {
    let buf = pending.byteLength ? concatBytes([pending, chunk]) : chunk;
    let off = 0;
    for (;;) {
      if (buf.byteLength - off < 4) break;
      const len = new DataView(buf.buffer, buf.byteOffset + off, 4).getInt32(0, true);
      if (len < 5 || len > MAX_BSON_BYTES + 16 * 1024)
        throw new StreamFormatError(`a document in the stream claims ${len} bytes`);
      if (buf.byteLength - off < len) break;
      const doc = buf.subarray(off, off + len);
      documentLength(doc); // checks the terminator
      yield doc;
      off += len;
    }
    buf = buf.subarray(off);
    // keep only the unfinished document, copied, so a large chunk is not held by a small tail
    pending = buf.byteLength ? Uint8Array.from(buf) : new Uint8Array(0);
  }
  if (pending.byteLength)
    throw new StreamFormatError(`the stream ends inside a document (${pending.byteLength} bytes left)`);
}

export interface BatchLimits {
  /** Bytes of documents per batch (the server takes 48 MB per message). */
  readonly maxBytes: number;
  /** Documents per batch (the server takes 100 000 per write command). */
  readonly maxCount: number;
}

export const INSERT_BATCH: BatchLimits = { maxBytes: 16 * 1024 * 1024, maxCount: 10_000 };

/** Documents in batches within the limits; a document larger than `maxBytes` goes alone. */
export async function* batchesOf(
  docs: AsyncIterable<Uint8Array>,
  limits: BatchLimits = INSERT_BATCH,
): AsyncGenerator<Uint8Array[]> {
  let batch: Uint8Array[] = [];
  let bytes = 0;
  for await (const d of docs) {
    if (batch.length && (bytes + d.byteLength > limits.maxBytes || batch.length >= limits.maxCount)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(d);
    bytes += d.byteLength;
  }
  if (batch.length) yield batch;
}
