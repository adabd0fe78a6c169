/**
 * Restore target: an empty MySQL/MariaDB database that receives the tables (pre-data), their rows
 * through concurrent `LOAD DATA LOCAL INFILE` streamed from the stored bytes, then views and
 * routines and triggers (post-data), events last, in `finish()`. The change log already holds
 * what triggers did on the source and MySQL cannot switch a trigger off for a session, so each
 * trigger is created with its body guarded by a variable the replay's session sets
 * (internal/statements.ts `guardTrigger`): it exists during the replay, so the log's DROP TRIGGER,
 * RENAME TABLE and DROP TABLE act on it as on the source, but does nothing there. `finish()` then
 * recreates every trigger as the source has it, in its order.
 * Every session writes with foreign_key_checks = 0 and unique_checks = 0 (the rows were valid on
 * the source), under time_zone +00:00 (TIMESTAMP text is UTC), under the dump's sql_mode with
 * NO_AUTO_VALUE_ON_ZERO (an id 0 stays 0) and without the zero-date checks (the source's rows are
 * loaded as they were), and, where the user may, outside the target's binlog.
 */
import type { Finding } from '../../src/driver/finding.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import type { DroppedObjects, LoadOptions, LoadStats, TargetDriver } from '../../src/driver/target-driver.js';
import { AbortError, SourceError, throwIfAborted } from '../../src/util/errors.js';
import { MysqlApplier } from './apply.js';
import { assertEmptyDatabase } from './internal/clean.js';
import {
  connect,
  connectionError,
  firstLine,
  quoteIdent,
  type MysqlEndpoint,
  type Session,
} from './internal/connection.js';
import { databaseIdentity } from './internal/identity.js';
import { dumpedColumns, infileStream, LOAD_FORMAT, loadDataSql } from './internal/load.js';
import { ROWS_FORMAT, rowsToLoadData } from './internal/rows-format.js';
import { splitSecondaryKeys } from './internal/schema-keys.js';
import { guardTrigger, unguardTrigger, unorderedTrigger } from './internal/statements.js';
import { preflight } from './preflight.js';
import { decodeSchema, type SchemaDocument, type TableDoc } from './schema.js';

/** The sql_mode rows are loaded under: the dump's, keeping id 0 and the source's zero dates. */
/** Tables whose secondary keys are built at once in post-data. */
const KEY_BUILDERS = 4;

export function loadSqlMode(dumpMode: string): string {
  const modes = dumpMode
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m && m !== 'NO_ZERO_DATE' && m !== 'NO_ZERO_IN_DATE');
  if (!modes.includes('NO_AUTO_VALUE_ON_ZERO')) modes.push('NO_AUTO_VALUE_ON_ZERO');
  return modes.join(',');
}

export class MysqlTarget implements TargetDriver {
  readonly kind = 'mysql';
  private doc: SchemaDocument | undefined;
  private readonly idle: Session[] = [];
  private readonly open = new Set<Session>();
  private readonly notices: string[] = [];
  private applier: MysqlApplier | undefined;
  /** How many notices warnings() has handed out; the replay's come later, from finish(). */
  private reported = 0;
  /** Secondary keys left out of pre-data, built in post-data (internal/schema-keys.ts), by table. */
  private readonly deferredKeys = new Map<string, readonly string[]>();

  constructor(private readonly target: MysqlEndpoint) {}

  async preflight(_opts: { replay: boolean }): Promise<Finding[]> {
    return this.withSession((s) => preflight(s, 'restore', this.target.database));
  }

  async assertEmpty(opts?: {
    clean?: boolean;
    schema?: Uint8Array;
    schemaFormat?: string;
  }): Promise<readonly DroppedObjects[]> {
    const doc = opts?.schema && opts.schemaFormat ? decodeSchema(opts.schema, opts.schemaFormat) : undefined;
    return this.withSession((s) => assertEmptyDatabase(s, this.target, { clean: !!opts?.clean, doc }));
  }

  async identity(): Promise<string | undefined> {
    return this.withSession((s) => databaseIdentity(s, this.target.database));
  }

  async createSchema(schema: Uint8Array, format: string, phase: 'pre-data' | 'post-data'): Promise<void> {
    const doc = decodeSchema(schema, format);
    this.doc = doc;
    if (phase === 'pre-data') return this.withSession((s) => this.preData(s, doc));
    await this.buildKeys();
    await this.withSession(async (s) => {
      await this.createViews(s, doc);
      for (const r of doc.routines) {
        await s.query('SET SESSION sql_mode = ?', [r.sqlMode ?? doc.sqlMode]);
        await this.run(s, r.create, `${(r.kind ?? 'routine').toLowerCase()} ${r.name}`);
      }
      // in their order (the schema lists them so), each after the ones before: no FOLLOWS needed
      for (const tr of doc.triggers) {
        const mode = tr.sqlMode ?? doc.sqlMode;
        await s.query('SET SESSION sql_mode = ?', [mode]);
        const guarded = guardTrigger(tr.create, /ANSI_QUOTES/i.test(mode), false);
        await this.run(s, guarded ?? tr.create, `trigger ${tr.name}`);
      }
    });
  }

  /** The database's defaults, then the tables, without the secondary keys built after the load. */
  private async preData(s: Session, doc: SchemaDocument): Promise<void> {
    const db = quoteIdent(this.target.database);
    await this.run(
      s,
      `ALTER DATABASE ${db} CHARACTER SET ${doc.charset} COLLATE ${doc.collation}`,
      'the database',
    );
    await s.query('SET SESSION sql_mode = ?', [doc.sqlMode]);
    // sequences first: a column's DEFAULT may take NEXTVAL of one
    for (const q of doc.sequences ?? []) await this.run(s, q.create, `sequence ${q.name}`);
    for (const t of doc.tables) {
      const split = splitSecondaryKeys(t.create);
      if (split.keys.length) this.deferredKeys.set(t.name, split.keys);
      await this.run(s, split.create, `table ${t.name}`);
    }
  }

  /** The deferred secondary keys, one ALTER TABLE per table, tables side by side. */
  private async buildKeys(): Promise<void> {
    const queue = [...this.deferredKeys];
    this.deferredKeys.clear();
    const worker = (): Promise<void> =>
      this.withSession(async (s) => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const [table, keys] = next;
          const adds = keys.map((k) => `ADD ${k}`).join(', ');
          await this.run(
            s,
            `ALTER TABLE ${quoteIdent(table)} ${adds}`,
            `the secondary keys of table ${table}`,
          );
        }
      });
    await Promise.all(Array.from({ length: Math.min(KEY_BUILDERS, queue.length) }, worker));
  }

  /** Views in dependency order: each round creates those whose tables and views exist. */
  private async createViews(s: Session, doc: SchemaDocument): Promise<void> {
    await s.query('SET SESSION sql_mode = ?', [doc.sqlMode]);
    let pending = [...doc.views];
    const errors = new Map<string, string>();
    while (pending.length) {
      const next = [];
      for (const v of pending) {
        try {
          await s.query(v.create);
        } catch (err) {
          errors.set(v.name, firstLine(err));
          next.push(v);
        }
      }
      if (next.length === pending.length) break;
      pending = next;
    }
    for (const v of pending)
      this.notices.push(
        `View ${v.name} was not restored: ${errors.get(v.name) ?? 'unknown error'} (a table it reads is not in the restore).`,
      );
  }

  async load(
    name: string,
    format: string,
    data: AsyncIterable<Uint8Array>,
    opts?: LoadOptions,
  ): Promise<LoadStats> {
    if (format !== ROWS_FORMAT && format !== LOAD_FORMAT)
      throw new SourceError(`Stream "${name}" has format "${format}"; this driver loads "${ROWS_FORMAT}" and "${LOAD_FORMAT}".`);
    throwIfAborted(opts?.signal);
    const t = this.tableOf(name);
    let bytes = 0;
    const counted = (async function* () {
      for await (const chunk of data) {
        bytes += chunk.byteLength;
        yield chunk;
      }
    })();
    const s = await this.acquire();
    let healthy = false;
    const onAbort = (): void => s.destroy();
    opts?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      // the socket the rows go out on: the next piece is read only once it has drained
      const socket = (s.conn as unknown as { stream: Parameters<typeof infileStream>[1] }).stream;
      const text = format === ROWS_FORMAT ? rowsToLoadData(counted, dumpedColumns(t.columns)) : counted;
      const input = infileStream(text, socket);
      const table = `${quoteIdent(this.target.database)}.${quoteIdent(t.name)}`;
      const res = await s.exec({ sql: loadDataSql(table, t.columns), infileStreamFactory: () => input });
      if (res.warningStatus > 0) {
        const warnings = await s.query<{ Message?: string }>('SHOW WARNINGS LIMIT 3');
        throw new SourceError(
          `Loading table ${t.name} into ${this.target.display} gave ${res.warningStatus} warning(s), so some values would differ from the snapshot, e.g. "${String(warnings[0]?.Message ?? '')}"; check that the target server's version, sql_mode and character sets can hold the source's values.`,
          { source: this.target.display },
        );
      }
      healthy = true;
      return { rows: res.affectedRows, bytes };
    } catch (err) {
      if (opts?.signal?.aborted) throw new AbortError('interrupted', { cause: err });
      if (err instanceof SourceError) throw err;
      throw new SourceError(
        `Loading table ${t.name} into ${this.target.display} failed: ${firstLine(err)}.`,
        {
          cause: err,
          source: this.target.display,
        },
      );
    } finally {
      opts?.signal?.removeEventListener('abort', onAbort);
      this.release(s, healthy);
    }
  }

  /**
   * Replays one transaction part on a session of its own (apply.ts): its parts share one
   * database transaction. Its session sets the variable that guards every trigger's body until
   * finish(), so nothing the log already holds happens twice; the log lacks the cascades, which the
   * target's foreign keys make.
   */
  async apply(tx: Transaction, opts?: { tables?: ReadonlySet<string> }): Promise<void> {
    this.applier ??= await MysqlApplier.connect(this.target.options, {
      onWarning: (message) => this.notices.push(message),
    });
    await this.applier.apply(tx, opts);
  }

  warnings(): readonly string[] {
    this.reported = this.notices.length;
    return [...this.notices];
  }

  /**
   * AUTO_INCREMENT counters and sequences at least where the source's were, then triggers and
   * events. A counter is only ever raised: the replay's inserts carry their ids, which move the
   * counter past every id the log handed out (also of rows deleted later), and InnoDB lets
   * `ALTER TABLE … AUTO_INCREMENT` set it back down to just above the largest id left, which would
   * hand such an id out a second time.
   */
  async finish(): Promise<readonly string[]> {
    const doc = this.doc;
    if (!doc) return [];
    await this.withSession(async (s) => {
      const current = await this.autoIncrements(s);
      for (const t of doc.tables) {
        if (!t.autoIncrement) continue;
        const now = current.get(t.name);
        // gone (replayed DDL dropped or renamed it), or already at or past the snapshot's
        if (now === undefined || now >= BigInt(t.autoIncrement)) continue;
        await this.run(
          s,
          `ALTER TABLE ${quoteIdent(t.name)} AUTO_INCREMENT = ${BigInt(t.autoIncrement)}`,
          `table ${t.name}`,
        );
      }
      for (const q of doc.sequences ?? [])
        if (/^\d+$/.test(q.next))
          await this.run(
            s,
            `ALTER SEQUENCE ${quoteIdent(q.name)} RESTART WITH ${q.next}`,
            `sequence ${q.name}`,
          );
      await this.unguardTriggers(s);
      for (const e of doc.events) {
        await s.query('SET SESSION sql_mode = ?, time_zone = ?', [
          e.sqlMode ?? doc.sqlMode,
          e.timeZone || '+00:00',
        ]);
        await this.run(s, e.create, `event ${e.name}`);
      }
    });
    return this.notices.slice(this.reported);
  }

  /** The target's tables that have an AUTO_INCREMENT column, with their counters now. */
  private async autoIncrements(s: Session): Promise<Map<string, bigint>> {
    // MySQL 8 caches these figures for a day unless told not to (MariaDB reads them live)
    await s.query('SET SESSION information_schema_stats_expiry = 0').catch(() => undefined);
    const rows = await s.query<{ name: string; next: string | number | null }>(
      `SELECT CAST(TABLE_NAME AS CHAR) AS name, AUTO_INCREMENT AS next FROM information_schema.TABLES
        WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL`,
      [this.target.database],
    );
    return new Map(rows.map((r) => [String(r.name), BigInt(r.next!)]));
  }

  /**
   * Every trigger of the target as the source has it: those the restore or the replay created
   * guarded are dropped with the others of their table, timing and event, and all of those are
   * created again in their order, unguarded.
   */
  private async unguardTriggers(s: Session): Promise<void> {
    const db = this.target.database;
    const rows = await s.query<{ name: unknown; t: unknown; timing: unknown; op: unknown }>(
      `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS t, ACTION_TIMING AS timing, EVENT_MANIPULATION AS op
         FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
        ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`,
      [db],
    );
    const groups = new Map<string, string[]>();
    for (const r of rows) {
      const key = JSON.stringify([String(r.t), String(r.timing), String(r.op)]);
      groups.set(key, [...(groups.get(key) ?? []), String(r.name)]);
    }
    for (const names of groups.values()) {
      const defs: Array<{ name: string; sql: string; mode: string; guarded: boolean }> = [];
      for (const name of names) {
        const [row] = await s.query<Record<string, unknown>>(
          `SHOW CREATE TRIGGER ${quoteIdent(db)}.${quoteIdent(name)}`,
        );
        const mode = String(row?.sql_mode ?? '');
        const sql = String(row?.['SQL Original Statement'] ?? '');
        const ansi = /ANSI_QUOTES/i.test(mode);
        const plain = unguardTrigger(sql, ansi);
        // an unguarded one among them is created again in its place, its FOLLOWS/PRECEDES dropped
        defs.push({
          name,
          sql: plain ?? unorderedTrigger(sql, ansi) ?? sql,
          mode,
          guarded: plain !== undefined,
        });
      }
      if (!defs.some((d) => d.guarded)) continue;
      for (const d of defs)
        await this.run(s, `DROP TRIGGER ${quoteIdent(db)}.${quoteIdent(d.name)}`, `trigger ${d.name}`);
      for (const d of defs) {
        await s.query('SET SESSION sql_mode = ?', [d.mode]);
        await this.run(s, d.sql, `trigger ${d.name}`);
      }
    }
  }

  async close(): Promise<void> {
    const applier = this.applier;
    this.applier = undefined;
    await applier?.close().catch(() => undefined);
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.idle.length = 0;
  }

  /** `db.table` or a part `db.table#n` of the snapshot: the table by its name in the schema. */
  private tableOf(name: string): TableDoc {
    const doc = this.doc;
    // a table whose own name ends in `#n` is matched whole before a part of another table
    const find = (n: string): TableDoc | undefined =>
      doc?.tables.find((x) => `${doc.database}.${x.name}` === n);
    const t = find(name) ?? find(name.replace(/#\d+$/, ''));
    if (!t) throw new SourceError(`Stream "${name}" names no table of the snapshot's schema.`);
    return t;
  }

  private async run(s: Session, sql: string, what: string): Promise<void> {
    try {
      await s.query(sql);
    } catch (err) {
      throw new SourceError(`Creating ${what} in ${this.target.display} failed: ${firstLine(err)}.`, {
        cause: err,
        source: this.target.display,
      });
    }
  }

  private async acquire(): Promise<Session> {
    const idle = this.idle.pop();
    if (idle) return idle;
    const s = await connect(this.target).catch((err: unknown) => {
      throw connectionError(err, this.target);
    });
    this.open.add(s);
    await s.query(
      "SET SESSION foreign_key_checks = 0, unique_checks = 0, time_zone = '+00:00', character_set_client = utf8mb4",
    );
    if (this.doc) await s.query('SET SESSION sql_mode = ?', [loadSqlMode(this.doc.sqlMode)]);
    // keeping the restore out of the target's binlog needs a privilege the user may not have
    await s.query('SET SESSION sql_log_bin = 0').catch(() => {});
    return s;
  }

  private release(s: Session, healthy: boolean): void {
    if (healthy) this.idle.push(s);
    else {
      this.open.delete(s);
      s.destroy();
    }
  }

  private async withSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const s = await this.acquire();
    let healthy = false;
    try {
      const out = await fn(s);
      healthy = true;
      return out;
    } catch (err) {
      throw err instanceof SourceError ? err : connectionError(err, this.target);
    } finally {
      if (this.doc && healthy)
        await s
          .query('SET SESSION sql_mode = ?, time_zone = ?', [loadSqlMode(this.doc.sqlMode), '+00:00'])
          .catch(() => (healthy = false));
      this.release(s, healthy);
    }
  }
}
