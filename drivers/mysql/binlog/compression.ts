import { inflateSync } from 'node:zlib';
import { decompress as zstdDecompress } from 'zstd-napi';
import { MalformedEvent } from './errors.js';

/**
 * MariaDB compressed events (log_bin_compress): one header byte (0x80 | algorithm << 4 | n),
 * the uncompressed length in n big-endian bytes, then a zlib stream (algorithm 0, the only one).
 */
export function mariadbUncompress(data: Buffer, what: string): Buffer {
  const head = data[0];
  if (head === undefined || (head & 0x80) === 0) throw new MalformedEvent(`${what} has no compression header.`);
  const algorithm = (head >> 4) & 0x07;
  const lenlen = head & 0x07;
  if (algorithm !== 0) throw new MalformedEvent(`${what} is compressed with algorithm ${algorithm}; MariaDB writes only 0 (zlib).`);
  if (lenlen < 1 || lenlen > 4 || data.length < 1 + lenlen) throw new MalformedEvent(`${what} has a compression header with ${lenlen} length bytes.`);
  const length = data.readUIntBE(1, lenlen);
  let out: Buffer;
  try {
    out = inflateSync(data.subarray(1 + lenlen), { maxOutputLength: Math.max(length, 1) });
  } catch (err) {
    throw new MalformedEvent(`${what} does not inflate (${(err as Error).message}).`);
  }
  if (out.length !== length) throw new MalformedEvent(`${what} inflates to ${out.length} bytes, its header says ${length}.`);
  return out;
}

/** MySQL TRANSACTION_PAYLOAD compressed with zstd. */
export function zstdUncompress(data: Buffer, expected: number | undefined, what: string): Buffer {
  let out: Buffer;
  try {
    out = zstdDecompress(data);
  } catch (err) {
    throw new MalformedEvent(`${what} does not decompress with zstd (${(err as Error).message}).`);
  }
  if (expected !== undefined && out.length !== expected) {
    throw new MalformedEvent(`${what} decompresses to ${out.length} bytes, its header says ${expected}.`);
  }
  return out;
}
