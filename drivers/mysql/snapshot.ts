/**
 * A consistent snapshot of one database at exact binlog coordinates.
 *
 * MariaDB, one worker: `START TRANSACTION WITH CONSISTENT SNAPSHOT` takes the InnoDB read view
 * and the binlog coordinates of the last transaction it sees in one step (the server holds the
 * commit-order lock across both), and `binlog_snapshot_file/position` report them: no global lock
 * at all. `@@gtid_binlog_pos` is NOT tied to the snapshot (a commit may land between the two
 * statements), so the GTID state is `BINLOG_GTID_POS(file, pos)` of the exact coordinates.
 *
 * Several workers must share ONE view, and MariaDB cannot clone a read view into another
 * session. Equal binlog_snapshot positions would not prove equal views: a transaction that is not
 * binlogged (sql_log_bin = 0, a filtered database) moves no coordinate but changes what a later
 * view sees. So commits are stopped for the moment it takes every worker to start its
 * transaction: `BACKUP STAGE START; BACKUP STAGE BLOCK_COMMIT` on MariaDB (queries and writes go
 * on, only commits wait), `FLUSH TABLES WITH READ LOCK` on MySQL (its LOCK INSTANCE FOR BACKUP
 * does not stop commits, so it cannot tie the workers' views to one log position). How long the
 * lock was held is recorded in the snapshot's meta (`lockMs`).
 *
 * Rows are read as the server stores them (internal/load.ts), converted from the protocol's row
 * packets (internal/rows-query.ts), under time_zone +00:00; a large
 * table with an integer primary key is read in several key ranges (`db.table#n`) that load side
 * by side.
 */
import type { SnapshotOptions, SnapshotReader, TableStream } from '../../src/driver/source-driver.js';
import { SOURCE_IDENTITY_META } from '../../src/driver/target-driver.js';
import { AbortError, SourceError, throwIfAborted } from '../../src/util/errors.js';
import {
  connect,
  connectionError,
  firstLine,
  quoteIdent,
  serverInfo,
  type MysqlEndpoint,
  type ServerInfo,
  type Session,
} from './internal/connection.js';
import { databaseIdentity } from './internal/identity.js';
import { selectList } from './internal/load.js';
import { ROWS_FORMAT } from './internal/rows-format.js';
import { rowsQuery } from './internal/rows-query.js';
import { ChecksumSum } from '../../src/driver/row-sum.js';
import { formatPosition } from './internal/position.js';
import { tableNames } from './names.js';
import { encodeSchema, listTables, readSchema, SCHEMA_FORMAT, type SnapshotTable } from './schema.js';

export { ROWS_FORMAT } from './internal/rows-format.js';

/** When a table is read in key ranges: at least this many rows (estimated), and more than one job. */
export const splitting = { minRows: 500_000 };

/** For tests only: runs while commits are blocked, before the workers start their transactions. */
export const snapshotTestHooks: { whileLocked?: () => Promise<void> } = {};

/** How long the coordinator waits to stop commits before it gives up (seconds). */
const LOCK_WAIT_SECONDS = 60;

const INTEGER_TYPES = new Set(['tinyint', 'smallint', 'mediumint', 'int', 'bigint']);

interface Fixed {
  readonly file: string;
  readonly offset: number;
  readonly gtids: string;
  readonly lockMs?: number;
  readonly lock?: string;
}

export async function openSnapshot(target: MysqlEndpoint, opts: SnapshotOptions): Promise<SnapshotReader> {
  const signal = opts.signal;
  throwIfAborted(signal);
  const jobs = Math.max(1, Math.floor(opts.jobs || 1));
  let coordinator: Session | undefined;
  let pool: WorkerPool | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', onAbort);
    pool?.close();
    coordinator?.destroy();
  };
  const onAbort = (): void => void close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    coordinator = await connect(target).catch((err: unknown) => {
      throw connectionError(err, target);
    });
    const server = await serverInfo(coordinator);
    const identity = await databaseIdentity(coordinator, target.database);
    const wanted = opts.tables?.length ? tableNames.matcher(opts.tables) : undefined;
    pool = new WorkerPool();
    for (let i = 0; i < jobs; i++) pool.add(await openWorker(target));
    throwIfAborted(signal);
    const fixed = await fixPosition(coordinator, pool.sessions(), server, target);
    if (!fixed.file)
      throw new SourceError(
        `Binary logging is off on ${target.display}, so a snapshot has no log position to continue from; set log_bin (log-bin = binlog in the server's configuration) and restart the server.`,
        { source: target.display },
      );
    // read after the position was fixed: every transaction in the snapshot committed before it
    const clock = (await coordinator.value('SELECT UNIX_TIMESTAMP(NOW(6))')) ?? '';
    const consistentAtMicros = microsOf(clock);
    const consistentAt = new Date(Number(consistentAtMicros / 1000n));
    // listed after the view was fixed: a table created before it is in the snapshot, one created
    // after it is in the log (and reading it in the older view fails loudly, never silently)
    const all = await listTables(coordinator, target.database);
    const selected = all.filter((t) => !wanted || wanted(`${target.database}.${t.name}`));
    const versioned = selected.filter((t) => t.versioned).map((t) => `${target.database}.${t.name}`);
    if (versioned.length)
      throw new SourceError(
        `Table ${versioned.join(', ')} is WITH SYSTEM VERSIONING, whose history a logical snapshot cannot restore exactly; leave it out with --tables, or remove versioning (ALTER TABLE … DROP SYSTEM VERSIONING).`,
        { source: target.display },
      );
    const { doc, tables } = await readSchema(coordinator, target.database, selected, server);
    coordinator.destroy();
    coordinator = undefined;
    throwIfAborted(signal);
    const plan = await pool.use((s) => planStreams(s, target.database, tables, jobs));
    const workers = pool;
    return {
      position: formatPosition({
        file: fixed.file,
        offset: fixed.offset,
        ...(fixed.gtids ? { gtids: fixed.gtids } : {}),
      }),
      consistentAt,
      consistentAtMicros,
      schema: encodeSchema(doc),
      schemaFormat: SCHEMA_FORMAT,
      meta: {
        serverVersion: server.version,
        flavour: server.flavour,
        database: target.database,
        sqlMode: doc.sqlMode,
        timeZone: '+00:00',
        serverTimeZone: doc.timeZone,
        binlogFile: fixed.file,
        binlogOffset: fixed.offset,
        ...(fixed.gtids ? { gtids: fixed.gtids } : {}),
        ...(fixed.lock ? { lock: fixed.lock, lockMs: fixed.lockMs ?? 0 } : { lock: 'none' }),
        tables: tables.length,
        ...(identity === undefined ? {} : { [SOURCE_IDENTITY_META]: identity }),
      },
      matched: {
        tables: (opts.tables ?? []).filter((w) => {
          const m = tableNames.matcher([w]);
          return tables.some((t) => m(`${target.database}.${t.name}`));
        }),
        schemas: [],
      },
      streams: () => tableStreams(target.database, plan, workers, signal),
      close,
    };
  } catch (err) {
    await close();
    if (signal?.aborted && !(err instanceof AbortError)) throw new AbortError('interrupted', { cause: err });
    if (err instanceof SourceError || err instanceof AbortError) throw err;
    throw connectionError(err, target);
  }
}

function microsOf(unixSeconds: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,6}))?/.exec(unixSeconds);
  if (!m?.[1]) return BigInt(Date.now()) * 1000n;
  return BigInt(m[1]) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

async function openWorker(target: MysqlEndpoint): Promise<Session> {
  const s = await connect(target).catch((err: unknown) => {
    throw connectionError(err, target);
  });
  // raw column bytes, never converted; a worker may wait for hours while others read, and a
  // slow repository may leave the server's writes unread for minutes (backpressure)
  await s.query(
    "SET SESSION character_set_results = binary, net_write_timeout = 86400, wait_timeout = 86400, time_zone = '+00:00'",
  );
  await s.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
  return s;
}

const START = 'START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY';

async function snapshotStatus(s: Session): Promise<{ file: string; offset: number }> {
  const rows = await s.query<{ Variable_name: Buffer | string; Value: Buffer | string }>(
    "SHOW SESSION STATUS LIKE 'binlog_snapshot_%'",
  );
  const get = (name: string): string =>
    String(rows.find((r) => String(r.Variable_name).toLowerCase() === name)?.Value ?? '');
  return { file: get('binlog_snapshot_file'), offset: Number(get('binlog_snapshot_position') || 0) };
}

async function fixPosition(
  coordinator: Session,
  workers: readonly Session[],
  server: ServerInfo,
  target: MysqlEndpoint,
): Promise<Fixed> {
  const gtidsAt = async (file: string, offset: number): Promise<string> =>
    file ? ((await coordinator.value('SELECT BINLOG_GTID_POS(?, ?)', [file, offset])) ?? '') : '';
  if (server.flavour === 'mariadb' && workers.length === 1) {
    const [w] = workers as [Session];
    await w.query(START);
    const at = await snapshotStatus(w);
    return { ...at, gtids: await gtidsAt(at.file, at.offset) };
  }
  const lockError = (err: unknown): SourceError => {
    const denied = (err as { errno?: number }).errno === 1227;
    const hint = denied
      ? `grant the backup user RELOAD${server.flavour === 'mariadb' ? ' (for BACKUP STAGE)' : ''}, or take the snapshot with --jobs 1`
      : 'a long statement or commit held it up; run the backup again when it has finished, or take the snapshot with --jobs 1, which needs no lock';
    return new SourceError(
      `Cannot stop commits on ${target.display} for the moment ${workers.length} workers need to share one consistent view (${firstLine(err)}); ${hint}.`,
      { cause: err, source: target.display },
    );
  };
  // never wait for the lock as long as the server would (a year on MariaDB): others queue behind it
  await coordinator.query(`SET SESSION lock_wait_timeout = ${LOCK_WAIT_SECONDS}`);
  if (server.flavour === 'mariadb') {
    await coordinator.query('BACKUP STAGE START').catch((err: unknown) => {
      throw lockError(err);
    });
    const t0 = performance.now();
    let locked = true;
    try {
      await coordinator.query('BACKUP STAGE BLOCK_COMMIT').catch((err: unknown) => {
        throw lockError(err);
      });
      await snapshotTestHooks.whileLocked?.();
      await Promise.all(workers.map((w) => w.query(START)));
      const at = await snapshotStatus(workers[0] as Session);
      for (const w of workers.slice(1)) {
        const other = await snapshotStatus(w);
        if (other.file !== at.file || other.offset !== at.offset)
          throw new SourceError(
            `The snapshot workers of ${target.display} saw different binlog positions (${at.file}:${at.offset} and ${other.file}:${other.offset}) although commits were blocked; run the backup again.`,
          );
      }
      await coordinator.query('BACKUP STAGE END');
      locked = false;
      const lockMs = Math.round(performance.now() - t0);
      return { ...at, gtids: await gtidsAt(at.file, at.offset), lock: 'BACKUP STAGE BLOCK_COMMIT', lockMs };
    } finally {
      if (locked) await coordinator.query('BACKUP STAGE END').catch(() => {});
    }
  }
  // MySQL: no binlog_snapshot_* status; the read lock ties every view to SHOW MASTER STATUS
  await coordinator.query('FLUSH TABLES WITH READ LOCK').catch((err: unknown) => {
    throw lockError(err);
  });
  const t0 = performance.now();
  let locked = true;
  try {
    await snapshotTestHooks.whileLocked?.();
    await Promise.all(workers.map((w) => w.query(START)));
    const status = server.versionNumber >= 80400 ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS';
    const [row] = await coordinator.query<{
      File?: string;
      Position?: string | number;
      Executed_Gtid_Set?: string;
    }>(status);
    await coordinator.query('UNLOCK TABLES');
    locked = false;
    const lockMs = Math.round(performance.now() - t0);
    return {
      file: String(row?.File ?? ''),
      offset: Number(row?.Position ?? 0),
      gtids: String(row?.Executed_Gtid_Set ?? '').replace(/\s+/g, ''),
      lock: 'FLUSH TABLES WITH READ LOCK',
      lockMs,
    };
  } finally {
    if (locked) await coordinator.query('UNLOCK TABLES').catch(() => {});
  }
}

interface PlannedStream {
  readonly name: string;
  readonly table: SnapshotTable;
  /** `WHERE …` of a key range, or '' for the whole table. */
  readonly where: string;
  readonly bytes: number;
}

/**
 * Largest tables first; a table large enough, with a one-column integer primary key, in `jobs`
 * key ranges of equal width between its smallest and largest key in the snapshot.
 */
async function planStreams(
  s: Session,
  database: string,
  tables: readonly SnapshotTable[],
  jobs: number,
): Promise<PlannedStream[]> {
  const out: PlannedStream[] = [];
  const sorted = [...tables].sort((a, b) => b.dataLength - a.dataLength || a.name.localeCompare(b.name));
  for (const t of sorted) {
    const name = `${database}.${t.name}`;
    const [pk] = t.primaryKey;
    const pkType = t.columns.find((c) => c.name === pk)?.dataType ?? '';
    if (
      jobs > 1 &&
      pk &&
      t.primaryKey.length === 1 &&
      INTEGER_TYPES.has(pkType) &&
      t.rowEstimate >= splitting.minRows
    ) {
      const q = quoteIdent(pk);
      const [row] = await s.query<{ lo: Buffer | null; hi: Buffer | null }>(
        `SELECT MIN(${q}) AS lo, MAX(${q}) AS hi FROM ${quoteIdent(database)}.${quoteIdent(t.name)}`,
      );
      if (row?.lo != null && row.hi != null) {
        const lo = BigInt(String(row.lo));
        const hi = BigInt(String(row.hi));
        const parts = BigInt(jobs);
        const step = (hi - lo + 1n + parts - 1n) / parts;
        if (step > 0n) {
          const bounds: bigint[] = [];
          for (let i = 1n; i < parts; i++) bounds.push(lo + step * i);
          const ranges = [...bounds, undefined].map((upper, i) => {
            const lower = i === 0 ? undefined : bounds[i - 1];
            const conds = [
              ...(lower === undefined ? [] : [`${q} >= ${lower}`]),
              ...(upper === undefined ? [] : [`${q} < ${upper}`]),
            ];
            return conds.join(' AND ');
          });
          ranges.forEach((where, i) =>
            out.push({ name: `${name}#${i + 1}`, table: t, where, bytes: t.dataLength / ranges.length }),
          );
          continue;
        }
      }
    }
    out.push({ name, table: t, where: '', bytes: t.dataLength });
  }
  return out;
}

async function* tableStreams(
  database: string,
  plan: readonly PlannedStream[],
  pool: WorkerPool,
  signal: AbortSignal | undefined,
): AsyncGenerator<TableStream> {
  for (const p of plan) {
    throwIfAborted(signal);
    const table = `${database}.${p.table.name}`;
    const from = `${quoteIdent(database)}.${quoteIdent(p.table.name)}`;
    const sql = `SELECT ${selectList(p.table.columns)} FROM ${from}${p.where ? ` WHERE ${p.where}` : ''}`;
    // each row hashed as it comes off the socket: the core need not find the rows again
    const sum = new ChecksumSum();
    const stream: { -readonly [K in keyof TableStream]: TableStream[K] } = {
      name: p.name,
      table,
      format: ROWS_FORMAT,
      rowChecksum: () => sum.result(),
      data: (async function* () {
        const lease = await pool.acquire(signal);
        let done = false;
        try {
          yield* rowsQuery(lease.conn, sql, (n) => (stream.rows = n), sum);
          done = true;
        } catch (err) {
          if (signal?.aborted) throw new AbortError('interrupted', { cause: err });
          throw new SourceError(`Reading table ${table} for the snapshot failed: ${firstLine(err)}.`, {
            cause: err,
            source: lease.target.display,
          });
        } finally {
          // a worker left in the middle of a result cannot be reused; its view dies with it
          pool.release(lease, done);
        }
      })(),
    };
    yield stream;
  }
}

/**
 * The sessions inside the one consistent view. A session whose read was abandoned mid-result is
 * closed, not reused: MariaDB cannot give a new session the same view, so the snapshot goes on
 * with the others, and fails with one sentence when none is left.
 */
class WorkerPool {
  private readonly all: Session[] = [];
  private readonly idle: Session[] = [];
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  add(s: Session): void {
    if (this.closed) {
      s.destroy();
      throw new AbortError('the snapshot was closed');
    }
    this.all.push(s);
    this.idle.push(s);
  }

  sessions(): readonly Session[] {
    return [...this.all];
  }

  async acquire(signal?: AbortSignal): Promise<Session> {
    for (;;) {
      throwIfAborted(signal);
      if (this.closed) throw new AbortError('the snapshot was closed');
      const s = this.idle.pop();
      if (s) return s;
      if (this.all.length === 0)
        throw new SourceError(
          'Every connection holding the snapshot was closed after an abandoned read, so the remaining tables cannot be read consistently; run the backup again.',
        );
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(s: Session, healthy: boolean): void {
    if (healthy && !this.closed) this.idle.push(s);
    else {
      const i = this.all.indexOf(s);
      if (i >= 0) this.all.splice(i, 1);
      s.destroy();
    }
    this.waiting.shift()?.();
  }

  async use<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const s = await this.acquire();
    let healthy = false;
    try {
      const out = await fn(s);
      healthy = true;
      return out;
    } finally {
      this.release(s, healthy);
    }
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w();
    for (const s of this.all.splice(0)) s.destroy();
    this.idle.length = 0;
  }
}
