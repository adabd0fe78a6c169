/**
 * A consistent snapshot: a temporary logical slot exports a snapshot at a known LSN, and every
 * worker connection imports it, so the schema, the sequences and all table data are read as of
 * exactly that LSN, which is where the change log continues.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { SnapshotOptions, SnapshotReader, TableStream } from '../../src/driver/source-driver.js';
import { SOURCE_IDENTITY_META } from '../../src/driver/target-driver.js';
import { AbortError, SourceError, throwIfAborted } from '../../src/util/errors.js';
import {
  connect,
  quoteIdent,
  quoteQualified,
  textSettingsSql,
  type PgEndpoint,
} from './internal/connection.js';
import { databaseIdentity } from './internal/identity.js';
import { copyOut } from './internal/load.js';
import { positionFromLsn } from './internal/position.js';
import { tableNames } from './names.js';
import { captureSequences } from './internal/sequences.js';
import {
  checkPgDump,
  dumpSection,
  encodeSchema,
  findPgDump,
  listMatviews,
  listTables,
  SCHEMA_FORMAT,
  type SnapshotTable,
} from './schema.js';

export const COPY_FORMAT = 'pg-copy-text/1';

interface ExportedSnapshot {
  readonly slot: string;
  readonly lsn: string;
  readonly name: string;
}

/** The slot must exist before the snapshot is exported, or changes between the two would be lost. */
async function exportSnapshot(repl: pg.Client, serverVersion: number): Promise<ExportedSnapshot> {
  const slot = `crmb_snap_${randomBytes(6).toString('hex')}`;
  const how = serverVersion >= 150000 ? "(SNAPSHOT 'export')" : 'EXPORT_SNAPSHOT';
  const r = await repl.query<{ consistent_point: string; snapshot_name: string }>(
    `CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput ${how}`,
  );
  const row = r.rows[0];
  if (!row?.snapshot_name)
    throw new SourceError('The server created the snapshot slot but exported no snapshot.');
  return { slot, lsn: row.consistent_point, name: row.snapshot_name };
}

/** For tests only: runs after the snapshot is exported and its tables listed, before they are locked. */
export const snapshotTestHooks: { beforeLock?: () => Promise<void> } = {};

/** A table's file changed between the export and the lock: the snapshot cannot read its rows. */
class TableRewrittenError extends SourceError {}

/**
 * Opens the snapshot, and once more when a table was rewritten in the moment between the export
 * and the table locks (the first attempt's slot is gone with its session; nothing was read yet).
 */
export async function openSnapshot(target: PgEndpoint, opts: SnapshotOptions): Promise<SnapshotReader> {
  try {
    return await openSnapshotOnce(target, opts);
  } catch (err) {
    if (!(err instanceof TableRewrittenError)) throw err;
    return openSnapshotOnce(target, opts);
  }
}

async function openSnapshotOnce(target: PgEndpoint, opts: SnapshotOptions): Promise<SnapshotReader> {
  const signal = opts.signal;
  throwIfAborted(signal);
  const jobs = Math.max(1, Math.floor(opts.jobs || 1));
  let repl: pg.Client | undefined;
  let pool: WorkerPool | undefined;
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    signal?.removeEventListener('abort', onAbort);
    await pool?.close();
    // ending the replication session drops the temporary slot and the exported snapshot with it
    await repl?.end().catch(() => {});
  };
  const onAbort = (): void => void close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const first = await connect(target);
    const version = Number(
      (await first.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v ?? 0,
    );
    // which database this is, whatever URL reached it: a restore refuses to overwrite it
    const identity = await databaseIdentity(first);
    const pgDump = findPgDump(Math.floor(version / 10000));
    await checkPgDump(pgDump, Math.floor(version / 10000));
    repl = await connect(target, { replication: true });
    const exported = await exportSnapshot(repl, version).catch((err: unknown) => {
      throw slotError(err, target);
    });
    // Read after the slot exists: every transaction in the snapshot committed before this instant.
    const clock = await first.query<{ us: string }>(
      'SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us',
    );
    const consistentAtMicros = BigInt(clock.rows[0]?.us ?? Date.now() * 1000);
    const consistentAt = new Date(Number(consistentAtMicros / 1000n));
    pool = new WorkerPool(target, exported.name, jobs);
    await pool.adopt(first);
    throwIfAborted(signal);

    const meta = await pool.use(async (c) => {
      const tables = await listTables(c, version, opts);
      await snapshotTestHooks.beforeLock?.();
      // ACCESS SHARE locks keep DDL (DROP, ALTER … TYPE) off the tables until the data is read
      for (let i = 0; i < tables.length; i += 500) {
        const names = tables.slice(i, i + 500).map((t) => quoteQualified(t.schema, t.name));
        await c.query(`LOCK TABLE ${names.join(', ')} IN ACCESS SHARE MODE`);
      }
      await assertNotRewritten(c, tables, target);
      return { tables, sequences: await captureSequences(c), matviews: await listMatviews(c) };
    });
    const dump = (section: 'pre-data' | 'post-data'): Promise<string> =>
      dumpSection(target, {
        bin: pgDump,
        snapshot: exported.name,
        section,
        withPrivileges: !!opts.withPrivileges,
        signal,
      });
    const [preData, postData] = await Promise.all([dump('pre-data'), dump('post-data')]);
    const schema = encodeSchema({
      format: SCHEMA_FORMAT,
      serverVersion: version,
      preData,
      postData,
      tables: meta.tables.map((t) => ({ schema: t.schema, name: t.name, columns: t.columns })),
      sequences: meta.sequences,
      matviews: meta.matviews,
    });
    const workers = pool;
    return {
      position: positionFromLsn(exported.lsn),
      consistentAt,
      consistentAtMicros,
      schema,
      schemaFormat: SCHEMA_FORMAT,
      meta: {
        serverVersion: version,
        database: target.database,
        lsn: exported.lsn,
        tables: meta.tables.length,
        ...(identity === undefined ? {} : { [SOURCE_IDENTITY_META]: identity }),
      },
      matched: matchedNames(meta.tables, opts),
      streams: () => tableStreams(meta.tables, workers, signal),
      close,
    };
  } catch (err) {
    await close();
    if (signal?.aborted && !(err instanceof AbortError)) throw new AbortError('interrupted', { cause: err });
    throw err;
  }
}

/** The names of `--tables` and `--schemas` that selected some table (a partition also by its root). */
function matchedNames(
  tables: readonly SnapshotTable[],
  opts: SnapshotOptions,
): { tables: string[]; schemas: string[] } {
  const selects = (w: string): boolean => {
    const wanted = tableNames.matcher([w]);
    return tables.some((t) => wanted(`${t.schema}.${t.name}`) || (t.root !== undefined && wanted(t.root)));
  };
  return {
    tables: (opts.tables ?? []).filter(selects),
    schemas: (opts.schemas ?? []).filter((s) => tables.some((t) => t.schema === s)),
  };
}

function slotError(err: unknown, target: PgEndpoint): SourceError {
  const e = err as { code?: string; message?: string };
  const why =
    e.code === '55000' || /wal_level/.test(e.message ?? '')
      ? 'wal_level is not "logical"; logical decoding needs "logical" (set wal_level = logical in postgresql.conf and restart PostgreSQL)'
      : e.code === '53400'
        ? 'all replication slots are in use (raise max_replication_slots or drop unused slots)'
        : e.code === '42501'
          ? 'the role lacks the REPLICATION attribute (ALTER ROLE … REPLICATION)'
          : (e.message ?? String(err)).split('\n')[0];
  return new SourceError(`Cannot export a snapshot from ${target.display}: ${why}.`, {
    cause: err,
    source: target.display,
  });
}

/**
 * A rewrite (ALTER … TYPE, TRUNCATE, VACUUM FULL, CLUSTER) committed after the export but before
 * the lock is not MVCC-safe: the new file holds no row the snapshot can see, so COPY would read
 * the table as empty. pg_class read in the snapshot gives the table and file the snapshot knows;
 * to_regclass and pg_relation_filenode go through the caches, which the lock brought up to date.
 */
async function assertNotRewritten(
  c: pg.Client,
  tables: readonly SnapshotTable[],
  target: PgEndpoint,
): Promise<void> {
  const { rows } = await c.query<{ t: string }>(
    `SELECT s.schema || '.' || s.name AS t
       FROM unnest($1::text[], $2::text[]) AS s(schema, name)
       LEFT JOIN pg_namespace n ON n.nspname = s.schema
       LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.name
      WHERE to_regclass(format('%I.%I', s.schema, s.name))::oid IS DISTINCT FROM c.oid
         OR pg_relation_filenode(c.oid) IS DISTINCT FROM c.relfilenode`,
    [tables.map((t) => t.schema), tables.map((t) => t.name)],
  );
  if (rows.length === 0) return;
  const more = rows.length > 1 ? ` (and ${rows.length - 1} more)` : '';
  throw new TableRewrittenError(
    `Table ${rows[0]?.t ?? ''}${more} was rewritten or replaced (ALTER TABLE … TYPE, TRUNCATE, VACUUM FULL, CLUSTER or a rename) while the snapshot was being taken, so its rows cannot be read consistently; run the backup again.`,
    { source: target.display },
  );
}

function copySql(t: SnapshotTable): string {
  const cols = t.columns.length ? ` (${t.columns.map(quoteIdent).join(', ')})` : '';
  return `COPY ${quoteQualified(t.schema, t.name)}${cols} TO STDOUT`;
}

async function* tableStreams(
  tables: readonly SnapshotTable[],
  pool: WorkerPool,
  signal: AbortSignal | undefined,
): AsyncGenerator<TableStream> {
  for (const t of tables) {
    throwIfAborted(signal);
    const name = `${t.schema}.${t.name}`;
    const stream: { -readonly [K in keyof TableStream]: TableStream[K] } = {
      name,
      table: name,
      format: COPY_FORMAT,
      data: (async function* () {
        const lease = await pool.acquire(signal);
        let healthy = true;
        try {
          yield* copyOut(lease, copySql(t), {
            signal,
            onRows: (rows) => (stream.rows = rows),
            onAbandon: () => (healthy = false),
          });
        } finally {
          pool.release(lease, healthy);
        }
      })(),
    };
    yield stream;
  }
}

/**
 * Up to `jobs` connections inside the exported snapshot, opened on demand. A connection whose
 * COPY was abandoned mid-stream is closed instead of reused; a new one can still import the
 * snapshot because the replication session that exported it stays open until `close`.
 */
class WorkerPool {
  private readonly idle: pg.Client[] = [];
  private readonly all = new Set<pg.Client>();
  private readonly waiting: Array<() => void> = [];
  private closed = false;
  constructor(
    private readonly target: PgEndpoint,
    private readonly snapshot: string,
    private readonly size: number,
  ) {}

  async adopt(client: pg.Client): Promise<void> {
    this.all.add(client);
    await this.importSnapshot(client);
    this.idle.push(client);
  }

  private async importSnapshot(client: pg.Client): Promise<void> {
    // row_security off: a policy must make COPY fail loudly, never silently drop rows; the text
    // settings make COPY write values the restore parses back identically (connection.ts)
    await client.query(
      `SET row_security = off; SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; ${textSettingsSql()}`,
    );
    await client.query(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '${this.snapshot.replace(/'/g, "''")}'`,
    );
  }

  async acquire(signal?: AbortSignal): Promise<pg.Client> {
    for (;;) {
      throwIfAborted(signal);
      if (this.closed) throw new AbortError('the snapshot was closed');
      const c = this.idle.pop();
      if (c) return c;
      if (this.all.size < this.size) {
        const client = await connect(this.target);
        this.all.add(client);
        try {
          await this.importSnapshot(client);
        } catch (err) {
          this.all.delete(client);
          await client.end().catch(() => {});
          throw err;
        }
        return client;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  release(client: pg.Client, healthy: boolean): void {
    if (healthy && !this.closed) this.idle.push(client);
    else {
      this.all.delete(client);
      void client.end().catch(() => {});
    }
    this.waiting.shift()?.();
  }

  async use<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.acquire();
    let healthy = false;
    try {
      const out = await fn(c);
      healthy = true;
      return out;
    } finally {
      this.release(c, healthy);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiting.splice(0)) w();
    const clients = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}
