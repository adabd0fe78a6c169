/**
 * One replication session of the MySQL/MariaDB change log, as the driver helpers' reconnect loop
 * sees it (src/driver/reconnect.ts): the items it delivers, which of its ends are worth a
 * reconnect, and the sentence for those that are not.
 */
import type mysql from 'mysql2/promise';
import { firstLine } from '../../../src/driver/reconnect.js';
import type { ChangeLogItem } from '../../../src/driver/source-driver.js';
import { SourceError } from '../../../src/util/errors.js';
import { BinlogDecoder } from '../binlog/decoder.js';
import { BinlogFormatError } from '../binlog/errors.js';
import { formatPosition, type BinlogPosition } from './position.js';
import type { BinlogSession } from './replication.js';
import type { TransactionAssembler } from './transaction-assembly.js';

/** ER_MASTER_FATAL_ERROR_READING_BINLOG: the binlog asked for cannot be read (purged, missing). */
export const ER_BINLOG_UNREADABLE = 1236;
/** Server errors of a server going away or not ready: shutdown, too many connections, … */
const RETRY_ERRNOS = new Set([
  1040, 1053, 1077, 1152, 1158, 1159, 1160, 1161, 1205, 1927, 2002, 2003, 2006, 2013,
]);

/**
 * Errors worth a reconnect: the connection went away (socket errno codes, mysql2's
 * PROTOCOL_CONNECTION_LOST) or the server is (re)starting or busy. Decided by code, never by text.
 * A binlog that cannot be decoded, a sentence of ours, or any other server error is fatal.
 */
export function retryable(err: unknown): boolean {
  if (err === undefined) return true;
  if (err instanceof BinlogFormatError || err instanceof SourceError) return false;
  const e = err as { code?: unknown; errno?: unknown; fatal?: unknown };
  if (typeof e.errno === 'number' && e.errno > 0 && e.errno < 1000) return true;
  if (typeof e.errno === 'number' && RETRY_ERRNOS.has(e.errno)) return true;
  if (typeof e.code === 'string' && (/^E[A-Z]+$/.test(e.code) || e.code.startsWith('PROTOCOL_'))) return true;
  return e.errno === undefined && e.code === undefined;
}

export function streamError(err: unknown, display: string): SourceError {
  if (err instanceof SourceError) return err;
  return new SourceError(`${display} stopped the binlog stream: ${firstLine(err)}.`, {
    cause: err,
    source: display,
  });
}

/**
 * The sentence for a binlog the server no longer has, under a running log: what the log needs,
 * what the server keeps, so the gap between them is named, and what happens next.
 */
export async function binlogGapError(
  admin: mysql.Connection,
  display: string,
  wanted: BinlogPosition,
  cause: unknown,
): Promise<SourceError> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS').catch(() => [[]] as never);
  const first = (rows as mysql.RowDataPacket[])[0];
  const oldest = first ? String(first.Log_name) : undefined;
  const kept = oldest
    ? `its oldest binlog is ${oldest}, so the changes from ${formatPosition({ file: wanted.file, offset: wanted.offset })} to ${oldest}:4 are lost to the log; started again, the stream continues from ${oldest}:4 with the gap recorded, and restores into it are refused`
    : `it keeps no binlog at all (${firstLine(cause)})`;
  return new SourceError(
    `The binlog position the log continues from (${formatPosition(wanted)}) is no longer on ${display}: ${kept}; keep binlogs longer (binlog_expire_logs_seconds) than the stream may be stopped.`,
    { cause, source: display },
  );
}

/**
 * What one session delivers, until it ends (then it throws the reason) or `stopped()` holds (then
 * it returns). `received()` on everything the server sends, heartbeats included.
 */
export async function* readSession(
  session: BinlogSession,
  assembler: TransactionAssembler,
  o: {
    readonly pollMs: number;
    readonly stopped: () => boolean;
    readonly received: () => void;
    /** The error for a binlog the server no longer has. */
    readonly gap: (cause: unknown) => Promise<Error>;
  },
): AsyncGenerator<ChangeLogItem> {
  const decoder = new BinlogDecoder();
  try {
    for (;;) {
      const item = await session.next(o.pollMs);
      if (o.stopped()) return;
      if (item === undefined) continue; // the server sends heartbeats of its own while idle
      if (!Buffer.isBuffer(item)) {
        const e = item.error as { errno?: unknown } | undefined;
        if (e?.errno === ER_BINLOG_UNREADABLE) throw await o.gap(item.error);
        throw item.error ?? new Error('the server ended the binlog dump');
      }
      o.received();
      const next = item.length >= 17 ? item.readUInt32LE(13) : 0;
      const offset = next > 0 ? Math.max(0, next - item.length) : 0;
      for (const ev of decoder.decode(item, offset)) yield* assembler.event(ev);
    }
  } finally {
    await assembler.abandon();
  }
}
