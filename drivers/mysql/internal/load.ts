/**
 * The text `LOAD DATA` reads (`mysql-load-data/1`, the snapshot's table data format before
 * `mysql-rows/1`, see rows-format.ts, which the restore turns into it): its
 * defaults, one row per line, fields separated by a tab, `\N` for NULL, and backslash escapes for
 * backslash, tab, newline, carriage return and NUL. Field bytes are the column's bytes as the
 * server stores them (read with character_set_results = binary, loaded with CHARACTER SET
 * binary), so text in any charset arrives unconverted.
 *
 * A few types are not exact in the server's plain text, so they are selected as an expression
 * and loaded through a variable:
 *  - FLOAT prints with 6 significant digits (16777217 reads back as 16777200): it is selected as
 *    DOUBLE, whose shortest round-trip text names the same float32 value exactly.
 *  - BIT comes as raw bytes that LOAD DATA would store as the bytes of a string: it is selected
 *    as its unsigned number and loaded with `SET col = CAST(@v AS UNSIGNED)`.
 * Generated columns are left out of both sides: the server computes them.
 */
import { Readable } from 'node:stream';
import { quoteIdent } from './connection.js';

export const LOAD_FORMAT = 'mysql-load-data/1';

export interface DataColumn {
  readonly name: string;
  readonly dataType: string;
  readonly generated: boolean;
}

const dumped = (cols: readonly DataColumn[]): DataColumn[] => cols.filter((c) => !c.generated);

/** How many fields a row of the table's data holds: its columns but the generated ones. */
export function dumpedColumns(cols: readonly DataColumn[]): number {
  return dumped(cols).length;
}

/** The SELECT list a snapshot reads a table's dumped columns with. */
export function selectList(cols: readonly DataColumn[]): string {
  return dumped(cols)
    .map((c) => {
      const q = quoteIdent(c.name);
      if (c.dataType === 'float') return `CAST(${q} AS DOUBLE)`;
      if (c.dataType === 'bit') return `${q} + 0`;
      return q;
    })
    .join(', ');
}

/** `LOAD DATA LOCAL INFILE` of one stream into `table` (already quoted). */
export function loadDataSql(table: string, cols: readonly DataColumn[]): string {
  const list: string[] = [];
  const set: string[] = [];
  dumped(cols).forEach((c, i) => {
    const q = quoteIdent(c.name);
    if (c.dataType === 'bit') {
      list.push(`@crmb_${i}`);
      set.push(`${q} = CAST(@crmb_${i} AS UNSIGNED)`);
    } else list.push(q);
  });
  return (
    `LOAD DATA LOCAL INFILE 'crm-backup-stream' INTO TABLE ${table} CHARACTER SET binary ` +
    `FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' STARTING BY '' ` +
    `(${list.join(', ')})${set.length ? ` SET ${set.join(', ')}` : ''}`
  );
}

/** A protocol packet holds less than 16 MiB; pieces of 1 MiB keep each one well below. */
const PIECE = 1024 * 1024;

interface Socket {
  readonly writableNeedDrain: boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  removeListener(event: 'drain' | 'close', listener: () => void): unknown;
}

/**
 * The bytes of one stream as the file `LOAD DATA LOCAL INFILE` asks for. mysql2 writes whatever
 * the file gives as fast as it comes, so the next piece is read only once the connection's socket
 * has drained: memory holds what the socket buffers plus one piece, whatever the table's size.
 */
export function infileStream(data: AsyncIterable<Uint8Array>, socket: Socket): Readable {
  const it = data[Symbol.asyncIterator]();
  let pending: Uint8Array | undefined;
  const drained = (): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        socket.removeListener('drain', done);
        socket.removeListener('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
  return new Readable({
    highWaterMark: PIECE,
    read() {
      void (async () => {
        try {
          if (socket.writableNeedDrain) await drained();
          if (!pending || pending.byteLength === 0) {
            const next = await it.next();
            if (next.done) return void this.push(null);
            pending = next.value;
          }
          const piece = pending.subarray(0, PIECE);
          pending = pending.subarray(piece.byteLength);
          this.push(piece);
        } catch (err) {
          this.destroy(err as Error);
        }
      })();
    },
    destroy(err, callback) {
      void it.return?.().catch(() => {});
      callback(err);
    },
  });
}
