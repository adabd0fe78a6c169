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

/** Bytes of a document's length field. */
const LENGTH_BYTES = 4;

/** The length the document at `off` claims; refused when no BSON document can be that long. */
function claimedLength(buf: Uint8Array, off: number): number {
  const len = new DataView(buf.buffer, buf.byteOffset + off, LENGTH_BYTES).getInt32(0, true);
  if (len < 5 || len > MAX_BSON_BYTES + 16 * 1024)
    throw new StreamFormatError(`a document in the stream claims ${len} bytes`);
  return len;
}

/**
 * Whole documents out of a byte stream cut anywhere. A document inside one chunk is handed on as
 * a view of it; only one that a chunk boundary cuts is copied, once, when its last piece arrives.
 */
export async function* documentsOf(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  // the document the last boundary cut: its pieces so far, their bytes, and the bytes it needs
  // (before its length is known, those of the length field)
  let pieces: Uint8Array[] = [];
  let have = 0;
  let need = LENGTH_BYTES;
  for await (const chunk of chunks) {
    let off = 0;
    while (have > 0 && off < chunk.byteLength) {
      const take = Math.min(need - have, chunk.byteLength - off);
      pieces.push(chunk.subarray(off, off + take));
      have += take;
      off += take;
      if (have < need) break;
      const joined = concatBytes(pieces, have);
      if (need === LENGTH_BYTES) {
        need = claimedLength(joined, 0); // at least 5: the rest is taken on the next turn
        pieces = [joined];
        continue;
      }
      documentLength(joined); // checks the terminator
      yield joined;
      pieces = [];
      have = 0;
      need = LENGTH_BYTES;
    }
    while (have === 0 && off < chunk.byteLength) {
      const left = chunk.byteLength - off;
      const len = left >= LENGTH_BYTES ? claimedLength(chunk, off) : LENGTH_BYTES;
      if (left < len) {
        // the start of a cut document, copied, so that a small tail does not hold a large chunk
        pieces = [new Uint8Array(chunk.subarray(off))];
        have = left;
        need = len;
        break;
      }
      const doc = chunk.subarray(off, off + len);
      documentLength(doc); // checks the terminator
      yield doc;
      off += len;
    }
  }
  if (have) throw new StreamFormatError(`the stream ends inside a document (${have} bytes left)`);
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
