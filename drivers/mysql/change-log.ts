/**
 * MySQL/MariaDB change log: the server's binlog, read as a replica reads it (COM_BINLOG_DUMP,
 * internal/replication.ts), decoded (binlog/), and assembled into the transactions of one database
 * (internal/transaction-assembly.ts, payload `mysql-changes/1`, internal/payload.ts).
 *
 * Contract for source.ts:
 *   openMysqlChangeLog(params, from, { …StreamOptions, sourceName, database }) -> ChangeLog
 *   dropMysqlChangeLog(params, sourceName) -> lines of what it removed (SourceDriver.dropChangeLog)
 * Items: Transaction (position = `file:end of the commit event#GTID state`, internal/position.ts)
 * in commit order, parts of at most PART_MAX_BYTES / PART_MAX_CHANGES with `more` on all but the
 * last, and Heartbeats.
 *
 * The server keeps no state for the stream (no slot): where the log continues is the position the
 * repository stored, while the binlog still holds it. When the server purged that binlog, the log
 * continues from the oldest binlog the server keeps and says so: `ChangeLog.from` is where it
 * really continues, so the gap is recorded and restores into it are refused, never skipped
 * silently (`continuation`). A binlog purged under a running log ends it with one sentence naming
 * the gap; started again, it continues as above. A new log (no `from`) starts at the server's
 * current position (SHOW MASTER STATUS), which is `ChangeLog.from`.
 *
 * What the stream changes on the source: database `crmb` and table `crmb.heartbeat`, one row per
 * stream, for idle markers (internal/markers.ts); each change is reported as one line and undone by
 * `dropMysqlChangeLog`. It also registers as a replica under a server id derived from the source
 * name (internal/replication.ts `replicaServerId`), which lasts as long as the connection.
 */
import mysql from 'mysql2/promise';
import type { ChangeLog, Position, StreamOptions } from '../../src/driver/source-driver.js';
import { SourceError } from '../../src/util/errors.js';
import { MysqlChangeLog } from './internal/change-log-stream.js';
import { dropMarker, ensureMarker } from './internal/markers.js';
import { fileSequence, formatPosition, parsePosition, type BinlogPosition } from './internal/position.js';
import { replicaServerId } from './internal/replication.js';

export { PART_MAX_BYTES, PART_MAX_CHANGES } from './internal/transaction-assembly.js';
export { replicaServerId } from './internal/replication.js';

const CONNECTED_WAIT_MS = 5_000;
/** Where a binlog file's first event starts, after its 4-byte magic number. */
const BINLOG_FIRST_EVENT = 4;

/** How the server is named in messages: never with its password. */
export function describeServer(params: mysql.ConnectionOptions): string {
  const where = params.socketPath ?? `${params.host ?? 'localhost'}${params.port ? `:${params.port}` : ''}`;
  return `mysql://${params.user ? `${params.user}@` : ''}${where}/${params.database ?? ''}`;
}

async function one(admin: mysql.Connection, sql: string): Promise<mysql.RowDataPacket | undefined> {
  const [rows] = await admin.query<mysql.RowDataPacket[]>(sql);
  return rows[0];
}

/** The server's current binlog position and GTID state. */
async function currentPosition(admin: mysql.Connection, mariadb: boolean): Promise<BinlogPosition> {
  const status =
    (await one(admin, 'SHOW MASTER STATUS').catch(() => undefined)) ??
    (await one(admin, 'SHOW BINARY LOG STATUS'));
  if (!status?.File)
    throw new SourceError(
      'The server reports no binlog position (SHOW MASTER STATUS is empty): is log_bin on?',
    );
  const gtid = await one(
    admin,
    mariadb ? 'SELECT @@global.gtid_binlog_pos AS g' : 'SELECT @@global.gtid_executed AS g',
  ).catch(() => undefined);
  const gtids = String(gtid?.g ?? '').replace(/\s+/g, '');
  return { file: String(status.File), offset: Number(status.Position), ...(gtids ? { gtids } : {}) };
}

/** The settings a row change log needs, refused one sentence at a time. */
async function checkSettings(
  admin: mysql.Connection,
  display: string,
): Promise<{ serverId: number; mariadb: boolean }> {
  const s = await one(
    admin,
    'SELECT @@global.log_bin AS logBin, @@global.binlog_format AS format, @@global.binlog_row_image AS image, @@global.server_id AS serverId, @@version AS version',
  );
  const refuse = (what: string): never => {
    throw new SourceError(
      `${what} on ${display}; the change log needs the binlog on with binlog_format=ROW and binlog_row_image=FULL.`,
      {
        source: display,
      },
    );
  };
  if (!s || Number(s.logBin) !== 1) refuse('The binlog is off (log_bin=OFF)');
  if (String(s?.format).toUpperCase() !== 'ROW') refuse(`binlog_format is ${String(s?.format)}`);
  if (String(s?.image).toUpperCase() !== 'FULL') refuse(`binlog_row_image is ${String(s?.image)}`);
  return { serverId: Number(s?.serverId), mariadb: /mariadb/i.test(String(s?.version)) };
}

/**
 * Where a log stored up to `wanted` continues: there, while the server still has that binlog.
 * When the server purged it, from the start of the oldest binlog it keeps, the least that can be
 * lost: `ChangeLog.from` then names where the log really continues, the stream records the gap,
 * and restores into it are refused; the sentence on `onStatus` says which binlogs went. A binlog
 * history that does not hold `wanted` for another reason (RESET MASTER, another server behind the
 * same address) is refused: positions there would not follow the stored ones.
 */
async function continuation(
  admin: mysql.Connection,
  display: string,
  wanted: BinlogPosition,
  opts: StreamOptions,
): Promise<BinlogPosition> {
  const [logs] = await admin.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
  const files = logs.map((r) => String(r.Log_name));
  const held = files.indexOf(wanted.file);
  if (held >= 0 && Number(logs[held]!.File_size) >= wanted.offset) return wanted;
  const oldest = files[0];
  const purged =
    held < 0 &&
    oldest !== undefined &&
    baseName(oldest) === baseName(wanted.file) &&
    fileSequence(oldest) > fileSequence(wanted.file);
  if (!purged)
    throw new SourceError(
      `The binlog position the log continues from (${formatPosition(wanted)}) is not in the binlog history of ${display} (${oldest ? `it has ${oldest} to ${files.at(-1)!}` : 'it keeps no binlog at all'}): its binlog was reset, or this is another server, and its positions do not follow the stored ones; take a new snapshot and stream it under a new --name.`,
      { source: display },
    );
  const start: BinlogPosition = { file: oldest, offset: BINLOG_FIRST_EVENT };
  opts.onStatus?.({
    message: `${display} no longer has the binlog the log continues from (${formatPosition(wanted)}): the changes between it and ${formatPosition(start)}, where the log continues, are lost to the log; restores into that gap will be refused (keep binlogs longer, binlog_expire_logs_seconds, than the stream may be stopped).`,
  });
  return start;
}

/** `binlog` of `binlog.000012`. */
function baseName(file: string): string {
  return file.replace(/\.\d+$/, '');
}

/** Opens the change log of `opts.database` after `from` (exclusive); iteration connects. */
export async function openMysqlChangeLog(
  params: mysql.ConnectionOptions,
  from: Position | undefined,
  opts: StreamOptions & { readonly sourceName: string; readonly database: string },
): Promise<ChangeLog> {
  const display = describeServer(params);
  const admin = await mysql.createConnection({ ...params, multipleStatements: false });
  try {
    const { serverId, mariadb } = await checkSettings(admin, display);
    for (const line of await ensureMarker(admin)) opts.onStatus?.({ message: line });
    let start: BinlogPosition;
    if (from !== undefined) {
      start = await continuation(admin, display, parsePosition(from), opts);
    } else {
      start = await currentPosition(admin, mariadb);
    }
    return new MysqlChangeLog({
      params,
      display,
      admin,
      opts,
      start,
      sourceName: opts.sourceName,
      database: opts.database,
      serverId: replicaServerId(opts.sourceName, serverId),
    });
  } catch (err) {
    await admin.end().catch(() => undefined);
    if (err instanceof SourceError) throw err;
    throw new SourceError(
      `Cannot start reading the binlog of ${display}: ${((err as Error).message ?? String(err)).split('\n')[0]?.replace(/\.$/, '')}.`,
      { cause: err, source: display },
    );
  }
}

/**
 * Removes what the stream of `sourceName` changed on the source (its idle-marker row, and table and
 * database `crmb` with the last stream); refuses while that stream is connected. One line per change.
 */
export async function dropMysqlChangeLog(
  params: mysql.ConnectionOptions,
  sourceName: string,
): Promise<string[]> {
  const display = describeServer(params);
  const admin = await mysql.createConnection({ ...params, multipleStatements: false });
  try {
    const own = Number((await one(admin, 'SELECT @@global.server_id AS id'))?.id);
    const id = replicaServerId(sourceName, own);
    // a stream that just stopped stays registered until its dump thread notices: wait a little
    const deadline = Date.now() + CONNECTED_WAIT_MS;
    for (;;) {
      const [hosts] = await admin.query<mysql.RowDataPacket[]>('SHOW SLAVE HOSTS').catch(() => [[]] as never);
      if (!(hosts as mysql.RowDataPacket[]).some((h) => Number(h.Server_id) === id)) break;
      if (Date.now() > deadline)
        throw new SourceError(
          `The stream of ${sourceName} is connected to ${display} (replica server id ${id}); stop it before dropping its change log.`,
          { source: display },
        );
      await new Promise((r) => setTimeout(r, 250));
    }
    return await dropMarker(admin, sourceName);
  } finally {
    await admin.end().catch(() => undefined);
  }
}
