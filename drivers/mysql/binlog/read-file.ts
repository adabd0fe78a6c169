import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { BinlogDecoder, EVENT_HEADER_LENGTH, eventName } from './decoder.js';
import { BinlogFormatError } from './errors.js';
import type { BinlogEvent, TableHints } from './types.js';

/** Every binlog (and relay log) file starts with these four bytes. */
export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e]);
const READ_CHUNK = 1 << 16;
const EVENT_SIZE_OFFSET = 9;

/**
 * Reads a binlog file to its end, one event at a time: memory holds one read chunk and the
 * largest single event, never the file. A file that ends inside an event (or a header) is a
 * BinlogFormatError naming the file and the offset of that event.
 */
export async function* readBinlogFile(
  path: string,
  opts?: { hints?: (database: string, table: string) => TableHints | undefined },
): AsyncGenerator<BinlogEvent> {
  const file = basename(path);
  const decoder = new BinlogDecoder({ file, followRotate: false, ...(opts?.hints ? { hints: opts.hints } : {}) });
  const fail = (offset: number, reason: string): BinlogFormatError => new BinlogFormatError({ file, offset, reason });
  const handle = await open(path, 'r');
  try {
    let buf = Buffer.alloc(READ_CHUNK);
    let bufStart = 0; // file offset of buf[0]
    let bufLength = 0;
    let eof = false;
    /** Makes [offset, offset + n) available in buf unless the file ends first; returns how much is. */
    const fill = async (offset: number, n: number): Promise<number> => {
      if (offset + n > bufStart + bufLength && !eof) {
        const keep = bufStart + bufLength - offset;
        const size = Math.max(READ_CHUNK, n);
        const next = size > buf.length ? Buffer.alloc(size) : buf;
        buf.copy(next, 0, offset - bufStart, offset - bufStart + keep);
        buf = next;
        bufStart = offset;
        bufLength = keep;
        while (bufLength < n && !eof) {
          const { bytesRead } = await handle.read(buf, bufLength, buf.length - bufLength, bufStart + bufLength);
          if (bytesRead === 0) eof = true;
          bufLength += bytesRead;
        }
      }
      return Math.min(n, bufStart + bufLength - offset);
    };

    const magic = await fill(0, BINLOG_MAGIC.length);
    if (magic < BINLOG_MAGIC.length || !buf.subarray(0, BINLOG_MAGIC.length).equals(BINLOG_MAGIC)) {
      throw fail(0, `the file does not start with the binlog magic bytes fe 62 69 6e, so it is not a binlog or relay log.`);
    }
    let offset = BINLOG_MAGIC.length;
    for (;;) {
      const got = await fill(offset, EVENT_HEADER_LENGTH);
      if (got === 0) return;
      if (got < EVENT_HEADER_LENGTH) {
        throw fail(offset, `the file ends ${got} bytes into an event header of ${EVENT_HEADER_LENGTH} bytes: it was cut short.`);
      }
      const at = offset - bufStart;
      const size = buf.readUInt32LE(at + EVENT_SIZE_OFFSET);
      const name = eventName(buf[at + 4]!);
      if (size < EVENT_HEADER_LENGTH) {
        throw fail(offset, `${name} event says it is ${size} bytes long, shorter than its own ${EVENT_HEADER_LENGTH}-byte header.`);
      }
      const have = await fill(offset, size);
      if (have < size) {
        throw fail(offset, `the file ends inside a ${name} event: ${have} of its ${size} bytes are there, so the file was cut short.`);
      }
      const start = offset - bufStart;
      // a copy only for events the decoder keeps (TABLE_MAPs are kept; values are copied out)
      const event = Buffer.from(buf.subarray(start, start + size));
      if (event[4] === 164 /* MARIADB_START_ENCRYPTION */) {
        throw fail(offset, 'the binlog is encrypted from here on (START_ENCRYPTION); read it through the server, which decrypts it.');
      }
      for (const ev of decoder.decode(event, offset)) yield ev;
      offset += size;
    }
  } finally {
    await handle.close();
  }
}
