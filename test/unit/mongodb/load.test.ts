/**
 * The restore's reading of a `mongodb-bson/1` stream (drivers/mongodb/internal/load.ts) without a
 * server or fixtures: documents come back byte for byte wherever the repository's chunks cut them,
 * a document inside one chunk is handed on as a view of it (not copied), and a stream that is not
 * BSON is refused with one sentence.
 */
import { describe, expect, it } from 'vitest';
import { buildDocument, el } from '../../../drivers/mongodb/internal/bson-raw.js';
import { documentsOf } from '../../../drivers/mongodb/internal/load.js';

const docs = [
  buildDocument([el.int32('_id', 1), el.string('s', 'a')]),
  buildDocument([el.int32('_id', 2), el.binary('blob', new Uint8Array(5000).fill(7))]),
  buildDocument([el.int32('_id', 3)]),
  buildDocument([el.int64('_id', 4n), el.string('s', 'é'.repeat(300))]),
];
const stream = Buffer.concat(docs);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

async function* cut(bytes: Uint8Array, sizes: readonly number[]): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (let n = 0; at < bytes.byteLength; n++) {
    const size = sizes[n % sizes.length] as number;
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const d of documentsOf(chunks)) out.push(d);
  return out;
}

describe('reading a mongodb-bson/1 stream', () => {
  it('gives every document byte for byte however the chunks cut it', async () => {
    // 1 and 3: the length field itself is cut; 0: empty chunks; 1000: a document over several chunks
    for (const sizes of [[1], [3, 0, 2], [7, 1000], [4], [5000], [stream.byteLength]]) {
      const got = await collect(cut(stream, sizes));
      expect(got.map(hex), `cut ${sizes.join(',')}`).toEqual(docs.map(hex));
    }
  });

  it('copies only a document a chunk boundary cuts; one inside a chunk is a view of it', async () => {
    // the boundary falls inside the second document: the first lies in chunk a, the last two in b
    const at = docs[0]!.byteLength + 10;
    const a = new Uint8Array(stream.subarray(0, at));
    const b = new Uint8Array(stream.subarray(at));
    const got = await collect(
      (async function* () {
        yield a;
        yield b;
      })(),
    );
    expect(got.map(hex)).toEqual(docs.map(hex));
    expect(got.map((d) => (d.buffer === a.buffer ? 'a' : d.buffer === b.buffer ? 'b' : 'copy'))).toEqual([
      'a',
      'copy',
      'b',
      'b',
    ]);
  });

  it('refuses a stream that ends inside a document, and a length no BSON document has', async () => {
    await expect(collect(cut(stream.subarray(0, stream.byteLength - 3), [100]))).rejects.toThrow(
      `the stream ends inside a document (${docs[3]!.byteLength - 3} bytes left)`,
    );
    const bad = new Uint8Array(8);
    new DataView(bad.buffer).setInt32(0, 3, true);
    await expect(collect(cut(bad, [2]))).rejects.toThrow('a document in the stream claims 3 bytes');
  });
});
