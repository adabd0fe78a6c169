/**
 * Restore target: an empty database that receives the pre-data schema, then table data through
 * concurrent COPY sessions (a table's indexes, keys and statistics follow its load on the same
 * session while other loads run: internal/early-build.ts), then the rest of the post-data schema
 * (indexes, constraints, triggers, rules), then replayed transactions (apply.ts), and finally
 * sequence values, materialized views and statistics. The order is the core's (target-driver.ts).
 */
import type pg from 'pg';
import type { Finding } from '../../src/driver/finding.js';
import type {
  DroppedObjects,
  LoadOptions,
  LoadStats,
  PlannedLoad,
  TargetDriver,
} from '../../src/driver/target-driver.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import { SourceError, throwIfAborted } from '../../src/util/errors.js';
import { applyTransaction, sequenceRecords } from './apply.js';
import { assertEmptyDatabase } from './internal/clean.js';
import { connect, quoteIdent, quoteQualified, textSettingsSql, type PgEndpoint } from './internal/connection.js';
import { databaseIdentity } from './internal/identity.js';
import { copyIn } from './internal/load.js';
import { EarlyBuilds, LoadPlan } from './internal/early-build.js';
import { preflight, replayPrivilege } from './preflight.js';
import { decodeSchema, runSection, type SchemaDocument, type TableColumns } from './schema.js';
import { SequenceRestorer } from './internal/sequences.js';
import { ReplaySwitches } from './internal/replay-switches.js';
import { COPY_FORMAT } from './snapshot.js';

/** Index builds at once: at least pg_restore -j2's, at most what a loaded server takes well. */
const POST_DATA_MIN_JOBS = 2;
const POST_DATA_MAX_JOBS = 8;

export class PostgresTarget implements TargetDriver {
  readonly kind = 'postgres';
  private doc: SchemaDocument | undefined;
  private readonly tables = new Map<string, TableColumns>();
  private readonly idle: pg.Client[] = [];
  private readonly open = new Set<pg.Client>();
  private applyClient: pg.Client | undefined;
  /** Whether the target has any sequence once replayed (asked when the replay reads past the instant). */
  private hasSequences: boolean | undefined;
  /** Triggers and rules switched off for replay (set at the first apply). */
  private switches: ReplaySwitches | undefined;
  private readonly sequences = new SequenceRestorer();
  private early: EarlyBuilds | undefined;
  /** The loads the core announced; without it every load assumes more follow. */
  private plan: LoadPlan | undefined;
  /** load() calls at work (COPY, index builds, key checks), and the most there ever were. */
  private loading = 0;
  private peakLoading = 0;
  /** What the load sessions set for TOAST compression (toastCompressionSql), asked once. */
  private toast: Promise<string> | undefined;
  /** What the DBA must know about what was restored differently (keys to tables left out). */
  private readonly notices: string[] = [];
  /** What the replay could not make exact, for finish() to return (a table whose values differ). */
  private readonly replayNotices: string[] = [];
  /** Tables the replay changed (qualified, unquoted): their statistics are refreshed at the end. */
  private readonly replayed = new Set<string>();

  constructor(private readonly target: PgEndpoint) {}

  async preflight(opts: { replay: boolean }): Promise<Finding[]> {
    return this.withClient(async (c) => {
      const findings = await preflight(c, 'restore');
      if (opts.replay) findings.push(...(await replayPrivilege(c)));
      return findings;
    });
  }

  async assertEmpty(opts?: {
    clean?: boolean;
    schema?: Uint8Array;
    schemaFormat?: string;
  }): Promise<readonly DroppedObjects[]> {
    // --clean drops what this schema creates (internal/clean.ts); without one, nothing is the restore's
    const doc = opts?.schema && opts.schemaFormat ? decodeSchema(opts.schema, opts.schemaFormat) : undefined;
    return this.withClient((c) => assertEmptyDatabase(c, this.target, { clean: !!opts?.clean, doc }));
  }

  async identity(): Promise<string | undefined> {
    return this.withClient((c) => databaseIdentity(c));
  }

  async createSchema(schema: Uint8Array, format: string, phase: 'pre-data' | 'post-data'): Promise<void> {
    const doc = decodeSchema(schema, format);
    this.remember(doc);
    try {
      if (phase === 'pre-data')
        await this.withClient(async (c) => {
          await runSection(c, doc.preData);
          // a partitioned parent's statistics as soon as its partitions are in, on a free
          // session, not alone at the end (finish() gathers them again where replay changed rows)
          for (const p of await partitionedParents(c)) this.early?.analyzeParent(p.name, p.leaves, `ANALYZE ${p.sql}`);
        });
      else await this.postData(doc.postData);
    } catch (err) {
      throw this.sqlError(`creating the ${phase} schema`, err);
    }
  }

  /**
   * Index and key builds side by side (they dominate restore time), then foreign-key checks and
   * the statistics left to post-data side by side (never two on one table at once), keys to
   * tables without data NOT VALID, then the rest in dump order.
   */
  private async postData(dump: string): Promise<void> {
    const early = this.early ?? new EarlyBuilds(dump);
    const { prelude } = early;
    const queue = early.remaining();
    let failed = false;
    const width = Math.max(POST_DATA_MIN_JOBS, Math.min(POST_DATA_MAX_JOBS, this.open.size));
    const builders = Math.min(width, queue.length);
    const worker = (): Promise<void> =>
      // fresh sessions: pg_dump's prelude empties search_path and sets session options
      this.withClient(async (c) => {
        await runSection(c, prelude);
        // as in buildEarly: sessions side by side each keep a core busy without parallel workers
        if (builders > 1) await c.query('SET max_parallel_maintenance_workers = 0');
        try {
          for (let sql = queue.shift(); sql !== undefined && !failed; sql = queue.shift())
            await runSection(c, sql);
        } catch (err) {
          failed = true;
          throw err;
        }
      });
    if (builders > 0) await Promise.all(Array.from({ length: builders }, worker));
    early.allLoadedReady();
    const keys = (): Promise<void> =>
      this.withClient(async (c) => {
        await runSection(c, prelude);
        for (let fk = await early.waitForeignKey(); fk && !failed; fk = await early.waitForeignKey()) {
          try {
            for (const sql of fk.run) await runSection(c, sql);
          } catch (err) {
            failed = true;
            throw err;
          } finally {
            early.finished(fk);
          }
        }
      });
    const pending = early.pendingForeignKeys();
    if (pending > 0) await Promise.all(Array.from({ length: Math.min(width, pending) }, keys));
    await this.keysToUnloaded(early);
    await this.withClient((c) => runSection(c, prelude + early.serial()));
  }

  planLoads(streams: readonly PlannedLoad[]): void {
    this.plan = new LoadPlan(streams.map((s) => s.name));
  }

  async load(
    name: string,
    format: string,
    data: AsyncIterable<Uint8Array>,
    opts?: LoadOptions,
  ): Promise<LoadStats> {
    if (format !== COPY_FORMAT) {
      throw new SourceError(`Stream "${name}" has format "${format}"; this driver loads "${COPY_FORMAT}".`);
    }
    throwIfAborted(opts?.signal);
    const t = this.tableOf(name);
    const cols = t.columns.length ? ` (${t.columns.map(quoteIdent).join(', ')})` : '';
    const whole = !name.includes('#');
    const table = quoteQualified(t.schema, t.name);
    const key = `${t.schema}.${t.name}`;
    // A whole table is emptied in the loading transaction so that COPY may FREEZE: rows land
    // frozen with hint bits set, and the index builds, ANALYZE and key checks that read them
    // next do not dirty and rewrite every page. Parts of a split table load side by side.
    const sql = `COPY ${table}${cols} FROM STDIN${whole ? ' WITH (FREEZE)' : ''}`;
    // counted before the connection is taken: another load deciding whether it is the last one
    // at work must see this one from the moment it was started
    this.peakLoading = Math.max(this.peakLoading, ++this.loading);
    this.plan?.started(name);
    // A load alone at work (none left to start, no other running) leaves its table's builds,
    // statistics and keys to post-data, which spreads them over all sessions, where one session
    // would run them one by one while the others sit idle.
    const alone = (): boolean => this.plan?.more() === false && this.loading === 1;
    let client: pg.Client | undefined;
    let healthy = false;
    try {
      client = await this.acquire();
      if (whole) await client.query(`BEGIN; TRUNCATE ONLY ${table}`);
      const stats = await copyIn(client, sql, data, { signal: opts?.signal });
      if (whole) await client.query('COMMIT');
      // A split table (`name#n`) waits for all its parts: its indexes are built in post-data.
      if (whole && !alone()) await this.buildEarly(client, t, alone);
      else this.early?.loaded(key, `ANALYZE ${table}`);
      healthy = true;
      return stats;
    } catch (err) {
      if (opts?.signal?.aborted) throw err;
      throw this.sqlError(`loading table ${key}`, err);
    } finally {
      this.loading--;
      if (client) this.release(client, healthy);
    }
  }

  /** This table's indexes and keys right after its data, then its statistics (pg_restore -j order). */
  private async buildEarly(client: pg.Client, t: TableColumns, alone: () => boolean): Promise<void> {
    const early = this.early;
    const key = `${t.schema}.${t.name}`;
    const { keys, rest } = early?.take(key) ?? { keys: [], rest: [] };
    try {
      if (keys.length + rest.length > 0) {
        await runSection(client, early!.prelude);
        // With several sessions at work (--jobs, the share of the server to use), each keeps a
        // core busy: parallel index workers on top only crowd those cores (restores 3-5% slower
        // on 2 cores, measured). A single session leaves parallel builds to the server.
        if (this.peakLoading > 1) await client.query('SET max_parallel_maintenance_workers = 0');
        for (const sql of keys) await runSection(client, sql);
        // keys to this table from complete ones, added now: their checks can run on other
        // sessions while this one builds the table's other indexes (a GIN index can take longer
        // than the checks of every key to the table)
        for (const fk of early!.keyed(key)) {
          try {
            await runSection(client, fk.run[0] as string);
          } catch (err) {
            early!.notAdded(fk);
            throw this.sqlError(fk.what, err);
          }
          early!.added(fk);
        }
        for (const sql of rest) await runSection(client, sql);
      }
      await client.query(`ANALYZE ${quoteQualified(t.schema, t.name)}`);
    } catch (err) {
      throw this.sqlError(`building the indexes of table ${t.schema}.${t.name}`, err);
    }
    this.early?.ready(`${t.schema}.${t.name}`);
    await this.checkForeignKeys(client, alone);
  }

  /**
   * A restore of some tables (`--tables`, or a snapshot of some) leaves the others empty; a key
   * from a restored table to an empty one would fail its check on every row. It is added NOT
   * VALID instead: the schema is whole, new rows are checked, and the DBA is told how to validate
   * it once the other table's rows are back. A referenced table that has rows (a partitioned
   * parent, whose rows are in its partitions) gets its keys as usual.
   */
  private async keysToUnloaded(early: EarlyBuilds): Promise<void> {
    const fks = early.keysToUnloaded();
    if (fks.length === 0) return;
    await this.withClient(async (c) => {
      await runSection(c, early.prelude);
      for (const fk of fks) {
        const { rows } = await c.query<{ empty: boolean }>(
          `SELECT NOT EXISTS (SELECT 1 FROM ${fk.parentSql}) AS empty`,
        );
        // rows there (a partitioned parent): the key stays in the script, in dump order
        if (!rows[0]?.empty) continue;
        early.remove(fk);
        const [add, validate] = fk.run as [string, string];
        await runSection(c, add);
        this.notices.push(
          `Foreign key ${fk.name} from ${fk.child} to ${fk.parent} was added NOT VALID: ${fk.parent} has no rows in this restore (only some tables were restored or snapshotted), so the rows of ${fk.child} could not be checked against it; once its rows are back, run: ${validate}`,
        );
      }
    });
  }

  /**
   * Foreign keys whose two tables are now complete, on this session while it is free and another
   * is at work: alone, it leaves them to post-data, which checks them side by side.
   */
  private async checkForeignKeys(client: pg.Client, alone: () => boolean): Promise<void> {
    const early = this.early;
    if (!early) return;
    let prelude = false;
    for (
      let fk = alone() ? undefined : early.nextForeignKey();
      fk;
      fk = alone() ? undefined : early.nextForeignKey()
    ) {
      try {
        if (!prelude) await runSection(client, early.prelude);
        prelude = true;
        for (const sql of fk.run) await runSection(client, sql);
      } catch (err) {
        throw this.sqlError(fk.what, err);
      } finally {
        early.finished(fk);
      }
    }
  }

  warnings(): readonly string[] {
    return this.notices;
  }

  async apply(tx: Transaction, opts?: { tables?: ReadonlySet<string> }): Promise<void> {
    // one connection for all replay: parts of one transaction must share its BEGIN … COMMIT.
    // apply.ts sets session_replication_role = replica, so ordinary triggers, foreign-key checks
    // and actions and rules do not fire; those enabled ALWAYS or REPLICA (and event triggers) are
    // switched off here before the first transaction, and given their modes back in finish()
    const client = (this.applyClient ??= await connect(this.target));
    if (!this.switches) {
      const switches = new ReplaySwitches();
      await inTransaction(client, () => switches.suspend(client));
      this.switches = switches;
    }
    for (const t of tx.tables ?? []) this.replayed.add(t);
    await applyTransaction(client, tx, {
      tables: opts?.tables,
      onSequenceRecord: (record) => this.sequences.applied(record),
      onWarning: (message) => this.replayNotices.push(message),
      switches: this.switches,
    });
  }

  /**
   * Reads on past the instant to the first record of sequence values sampled after it: every
   * sequence is set at least that far in finish() (internal/sequences.ts says why that is safe).
   */
  async observeAfter(tx: Transaction, opts: { untilMicros: bigint }): Promise<boolean> {
    this.sequences.noteInstant(opts.untilMicros);
    // no sequence at the instant, nothing to bound: the stream may never write a record to find
    this.hasSequences ??= await this.withClient(async (c) => {
      const r = await c.query<{ any: boolean }>(
        'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_sequence) AS any',
      );
      return r.rows[0]?.any === true;
    });
    if (!this.hasSequences) return false;
    for (const record of sequenceRecords(tx))
      if (this.sequences.observe(record, opts.untilMicros)) return false;
    return true;
  }

  async finish(): Promise<readonly string[]> {
    if (!this.doc) return [];
    const doc = this.doc;
    const { switches, applyClient } = this;
    const warnings = await this.withClient(async (c) => {
      try {
        // after replay, REFRESH (a DDL command) must not fire event triggers either: replica mode
        // stops those enabled ORIGIN, the replay's switches the others until the end
        if (switches) await c.query('SET session_replication_role = replica');
        const late = [...this.replayNotices, ...(await this.sequences.restore(c, doc.sequences))];
        // after replay, so that the views show the data as of the restore point
        await refreshMatviews(c, doc.matviews ?? []);
        // Loaded tables were analyzed after their load (or in post-data); the ones replay changed
        // are analyzed again, and partitioned parents only get statistics from an ANALYZE of their own.
        await analyzeTables(c, [...this.replayed]);
        if (this.replayed.size > 0) await analyzePartitionedParents(c);
        return late;
      } catch (err) {
        throw this.sqlError('setting sequences, materialized views and statistics', err);
      }
    });
    if (switches && applyClient) {
      try {
        await inTransaction(applyClient, () => switches.resume(applyClient));
      } catch (err) {
        throw this.sqlError('giving triggers and rules back the modes they had on the source', err);
      }
    }
    return warnings;
  }

  async close(): Promise<void> {
    const all = [...this.open, ...(this.applyClient ? [this.applyClient] : [])];
    this.open.clear();
    this.idle.length = 0;
    this.applyClient = undefined;
    await Promise.all(all.map((c) => c.end().catch(() => {})));
  }

  private remember(doc: SchemaDocument): void {
    this.doc = doc;
    this.early ??= new EarlyBuilds(doc.postData);
    for (const t of doc.tables) this.tables.set(`${t.schema}.${t.name}`, t);
  }

  /** `schema.table` or a split part `schema.table#n`; names with dots resolve through the schema. */
  private tableOf(name: string): TableColumns {
    const known = this.tables.get(name) ?? this.tables.get(name.replace(/#\d+$/, ''));
    if (known) return known;
    const bare = name.replace(/#\d+$/, '');
    const dot = bare.indexOf('.');
    return dot < 0
      ? { schema: 'public', name: bare, columns: [] }
      : { schema: bare.slice(0, dot), name: bare.slice(dot + 1), columns: [] };
  }

  private async acquire(): Promise<pg.Client> {
    const c = this.idle.pop();
    if (c) return c;
    const client = await connect(this.target);
    this.open.add(client);
    try {
      // a crash mid-restore means starting over anyway, so per-commit WAL flushes buy nothing;
      // COPY parses the snapshot's text under the settings it was written in, not the database's
      const toast = (this.toast ??= toastCompressionSql(client));
      const setting = await toast.catch((err: unknown) => {
        if (this.toast === toast) this.toast = undefined; // the next session asks again
        throw err;
      });
      await client.query(`SET synchronous_commit = off; ${textSettingsSql({ only: 'parse' })}${setting}`);
      return client;
    } catch (err) {
      this.open.delete(client);
      void client.end().catch(() => {});
      throw err;
    }
  }

  private release(client: pg.Client, healthy: boolean): void {
    if (healthy) this.idle.push(client);
    else {
      this.open.delete(client);
      void client.end().catch(() => {});
    }
  }

  private async withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await connect(this.target);
    try {
      // the dump's SQL is parsed under the same settings as the data (connection.ts)
      await c.query(textSettingsSql({ only: 'parse' }));
      return await fn(c);
    } finally {
      await c.end().catch(() => {});
    }
  }

  private sqlError(what: string, err: unknown): Error {
    if (!(err instanceof Error) || err.name === 'AbortError' || 'exitCode' in err) return err as Error;
    const msg = err.message.split('\n')[0] ?? String(err);
    return new SourceError(`PostgreSQL at ${this.target.display} failed ${what}: ${msg}.`, {
      cause: err,
      source: this.target.display,
    });
  }
}

/**
 * Loaded values large enough for TOAST are compressed with lz4 where the server has it (14 and
 * later, built with lz4: every packaged build) and nobody chose a method: pglz, the built-in
 * default, compresses several times slower (a text-heavy CRM table of 336 MB loaded in 3.5 s with
 * pglz, 1.45 s with lz4). The data read back is the same; pg_column_compression() shows lz4, and
 * such values take a few percent more room. A method set anywhere (postgresql.conf, ALTER
 * DATABASE/ROLE, PGOPTIONS or the URL's `options`) is the DBA's choice and is kept.
 */
async function toastCompressionSql(c: pg.Client): Promise<string> {
  const { rows } = await c.query<{ source: string; lz4: boolean }>(
    `SELECT source, 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`,
  );
  return rows[0]?.source === 'default' && rows[0].lz4 ? '; SET default_toast_compression = lz4' : '';
}

/** REFRESH in creation order; one that reads a not-yet-refreshed view is retried after the others. */
async function refreshMatviews(
  c: pg.Client,
  views: readonly { schema: string; name: string }[],
): Promise<void> {
  let todo = [...views];
  while (todo.length) {
    const failed: typeof todo = [];
    let lastError: unknown;
    for (const v of todo) {
      try {
        await c.query(`REFRESH MATERIALIZED VIEW ${quoteQualified(v.schema, v.name)}`);
      } catch (err) {
        failed.push(v);
        lastError = err;
      }
    }
    if (failed.length === todo.length) throw lastError;
    todo = failed;
  }
}

async function analyzeTables(c: pg.Client, tables: string[]): Promise<void> {
  if (tables.length === 0) return;
  const { rows } = await c.query<{ t: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname || '.' || c.relname = ANY($1) AND c.relkind IN ('r', 'm')`,
    [tables],
  );
  for (const r of rows) await c.query(`ANALYZE ${r.t}`);
}

/**
 * Partitioned tables, each with the leaf partitions under it at any depth: `name` and `leaves` as
 * streams name tables (`schema.table`, unquoted), `sql` quoted.
 */
async function partitionedParents(c: pg.Client): Promise<{ name: string; sql: string; leaves: string[] }[]> {
  const { rows } = await c.query<{ name: string; sql: string; leaves: string[] }>(
    `WITH RECURSIVE tree(root, rel) AS (
       SELECT c.oid, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'p' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       UNION ALL
       SELECT t.root, i.inhrelid FROM tree t JOIN pg_inherits i ON i.inhparent = t.rel)
     SELECT rn.nspname || '.' || r.relname AS name, format('%I.%I', rn.nspname, r.relname) AS sql,
            coalesce(array_agg(ln.nspname || '.' || l.relname) FILTER (WHERE l.relkind <> 'p'), '{}') AS leaves
       FROM tree t
       JOIN pg_class r ON r.oid = t.root JOIN pg_namespace rn ON rn.oid = r.relnamespace
       JOIN pg_class l ON l.oid = t.rel JOIN pg_namespace ln ON ln.oid = l.relnamespace
      GROUP BY 1, 2`,
  );
  return rows;
}

async function analyzePartitionedParents(c: pg.Client): Promise<void> {
  for (const r of await partitionedParents(c)) await c.query(`ANALYZE ${r.sql}`);
}

/** `fn` in a transaction of its own on `c`, rolled back when it throws. */
async function inTransaction(c: pg.Client, fn: () => Promise<void>): Promise<void> {
  await c.query('BEGIN');
  try {
    await fn();
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
