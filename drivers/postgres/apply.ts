/**
 * Replays `pg-changes/1` transaction parts (change-log.ts) into a PostgreSQL target.
 *
 * Contract for target.ts:
 *   applyTransaction(client, tx, { tables?, onSequence?, onSequenceRecord?, onWarning?, switches? })
 *   sequenceRecords(tx)  the stream's records of sequence values in a part, for reading past the instant
 *   BEGIN at the first part, COMMIT at the part with `more` falsy (state is kept per client, so
 *   call it with the parts of one transaction in order, on one client, nothing in between).
 *   On error the transaction is rolled back and a SourceError thrown.
 * Needs superuser (or SET privilege on session_replication_role): replay runs as a replica so the
 * target's own triggers and foreign-key actions do not fire a second time; the triggers and rules
 * replica mode still fires are the caller's to switch off (`switches`, replay-switches.ts).
 *
 * SQL is generated as text with string literals (standard_conforming_strings is forced on, so
 * doubling quotes is the whole escaping) and explicit casts to the target column types, batched
 * into multi-statement simple queries (one round trip per ~1 MiB). Consecutive changes of one
 * table and shape become one statement (apply-batch.ts). Every UPDATE and DELETE must hit exactly
 * one row per change, or the target does not match the source.
 */
import type pg from 'pg';
import type { Transaction } from '../../src/driver/source-driver.js';
import { SourceError } from '../../src/util/errors.js';
import { quoteIdent, textSettingsSql } from './internal/connection.js';
import {
  DDL_MESSAGE_PREFIX,
  MISSING_MESSAGE_PREFIX,
  parseDdlMessage,
  parseMissingMessage,
  parseRowsMessage,
  replayStatements,
  ROWS_MESSAGE_PREFIX,
  SEQUENCES_MESSAGE_PREFIX,
  type MissingMessage,
  type RowsMessage,
} from './internal/ddl-capture.js';
import { decodePayload, type PayloadRecord, type PayloadRow, type Relation } from './internal/payload.js';
import { lit, TargetTables, type TargetTable } from './internal/apply-sql.js';
import { UNPUBLISHED_MESSAGE_PREFIX, unpublishedRowsError } from './internal/publication.js';
import { deleteSlot, insertSlot, RowGroup, updateSlot, type GroupSlot } from './internal/apply-batch.js';
import { parseSequenceRecord, type SequenceRecord } from './internal/sequences.js';

export interface ApplyOptions {
  /** Only changes to these tables (`schema.table` or bare `table`; a partition matches its root). */
  readonly tables?: ReadonlySet<string>;
  /** Sequence values recorded in the stream; without it (or the next) they are set on the target right away. */
  readonly onSequence?: (name: string, value: string) => void;
  /** The stream's records of sequence values, whole (sequences.ts). */
  readonly onSequenceRecord?: (record: SequenceRecord) => void;
  /** Things skipped on purpose (DDL that failed under a table filter). */
  readonly onWarning?: (message: string) => void;
  /**
   * Triggers and rules replica mode would fire, switched off by the caller (replay-switches.ts):
   * replayed DDL runs between `beforeDdl` and `afterDdl`, so that it finds and leaves them as the
   * source had them, and the rows after it meet them switched off again.
   */
  readonly switches?: {
    beforeDdl(client: pg.Client): Promise<void>;
    afterDdl(client: pg.Client): Promise<void>;
  };
}

const FLUSH_BYTES = 1024 * 1024;
/**
 * Message prefixes whose records the applier must see: they run SQL on the target, or refuse the
 * replay (rows the log lacks). Sequence records need it only without a callback.
 */
const SQL_MESSAGES: ReadonlySet<string> = new Set([
  DDL_MESSAGE_PREFIX,
  ROWS_MESSAGE_PREFIX,
  MISSING_MESSAGE_PREFIX,
  UNPUBLISHED_MESSAGE_PREFIX,
]);
/** The relation id `crmb.rows` inserts are grouped under (pgoutput's ids are positive). */
const ROWS_RELATION_ID = -1;
const FLUSH_STATEMENTS = 2_000;
/** Settings the text values were produced under (replication.ts), plus replica mode. */
const SESSION_SETUP = [
  'SET LOCAL standard_conforming_strings = on',
  'SET LOCAL session_replication_role = replica',
  'SET LOCAL search_path = pg_catalog, pg_temp',
  textSettingsSql({ local: true }),
].join('; ');

interface ClientState {
  position: string | undefined;
  readonly tables: TargetTables;
  /**
   * Columns (`schema\0table\0column`) the last replayed DDL added with a value stored once for
   * the rows already there (atthasmissing): the `crmb.missing` messages after it say the source's.
   */
  missing: ReadonlySet<string>;
}
const states = new WeakMap<pg.Client, ClientState>();

/** Applies one transaction part; see the contract above. */
export async function applyTransaction(
  client: pg.Client,
  tx: Transaction,
  opts: ApplyOptions = {},
): Promise<void> {
  let state = states.get(client);
  if (!state) {
    state = { position: undefined, tables: new TargetTables(client), missing: new Set() };
    states.set(client, state);
  }
  const s = state;
  // the stream's own small transactions (sequence records, idle markers) need no round trip
  if (s.position === undefined && !tx.more && takenWithoutSql(tx, opts)) return;
  try {
    if (s.position === undefined) {
      s.position = tx.position;
      try {
        // one round trip: BEGIN cannot fail where the settings could
        await client.query(`BEGIN; ${SESSION_SETUP}`);
      } catch (err) {
        throw new SourceError(
          `Replaying changes needs superuser or SET privilege on session_replication_role (so the target's triggers and foreign-key actions do not fire twice): ${firstLine(err)}.`,
          { cause: err },
        );
      }
    } else if (s.position !== tx.position) {
      throw new SourceError(
        `Transaction part at position ${tx.position} arrived while ${s.position} was still open; parts must come in order.`,
      );
    }
    await new PartApplier(client, s.tables, opts, s).run(tx);
    if (!tx.more) {
      await client.query('COMMIT');
      s.position = undefined;
      s.missing = new Set();
    }
  } catch (err) {
    s.position = undefined;
    s.missing = new Set();
    await client.query('ROLLBACK').catch(() => {});
    s.tables.invalidate();
    if (err instanceof SourceError) throw err;
    throw new SourceError(`Replaying the transaction at position ${tx.position} failed: ${firstLine(err)}.`, {
      cause: err,
    });
  }
}

/** The records of sequence values in a transaction part (the stream writes them in transactions of their own). */
export function sequenceRecords(tx: Transaction): SequenceRecord[] {
  if (tx.changes > 0) return [];
  const out: SequenceRecord[] = [];
  for (const rec of decodePayload(tx.payload))
    if (rec.kind === 'message' && rec.prefix === SEQUENCES_MESSAGE_PREFIX && rec.text)
      out.push(parseSequenceRecord(rec.text));
  return out;
}

/** Columns of user tables holding a value stored once for older rows (atthasmissing, PostgreSQL 11+). */
async function missingColumns(client: pg.Client): Promise<Set<string>> {
  const { rows } = await client.query<{ s: string; t: string; c: string }>(
    `SELECT n.nspname AS s, c.relname AS t, a.attname AS c
       FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND c.oid >= 16384
        AND coalesce(to_jsonb(a) ->> 'atthasmissing', 'false') = 'true'`,
  );
  return new Set(rows.map((r) => `${r.s}\0${r.t}\0${r.c}`));
}

/** A relation description for the columns of a `crmb.rows` message (types come from the target). */
function rowsRelation(m: RowsMessage): Relation {
  return {
    tag: 'relation',
    relationId: ROWS_RELATION_ID,
    namespace: m.schema,
    name: m.name,
    replicaIdentity: 'f',
    columns: m.columns.map((name) => ({ name, isKey: false, typeOid: 0, typmod: -1 })),
  };
}

/**
 * A whole transaction of messages only, none of which runs SQL (sequence records go to a callback,
 * other prefixes are ignored): its records are taken here, without BEGIN and COMMIT.
 */
function takenWithoutSql(tx: Transaction, opts: ApplyOptions): boolean {
  if (tx.changes > 0 || !(opts.onSequence || opts.onSequenceRecord)) return false;
  const records = [...decodePayload(tx.payload)];
  if (!records.every((r) => r.kind === 'message' && !SQL_MESSAGES.has(r.prefix))) return false;
  for (const rec of records) {
    if (rec.kind !== 'message' || rec.prefix !== SEQUENCES_MESSAGE_PREFIX || !rec.text) continue;
    const record = parseSequenceRecord(rec.text);
    opts.onSequenceRecord?.(record);
    for (const [name, value] of record.values) opts.onSequence?.(name, value.toString());
  }
  return true;
}

function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]?.replace(/\.$/, '') ?? 'unknown error';
}

/** One part: records -> batched SQL. */
class PartApplier {
  private readonly relations = new Map<number, Relation>();
  private readonly types = new Map<number, string>();
  private sql: string[] = [];
  private bytes = 0;
  /** Statement indexes (in `sql`) with the number of rows each must change, and their table. */
  private checks: Array<[number, number, string]> = [];
  /** Consecutive changes of one table and shape, not yet in `sql` (apply-batch.ts). */
  private group: RowGroup | undefined;

  constructor(
    private readonly client: pg.Client,
    private readonly targets: TargetTables,
    private readonly opts: ApplyOptions,
    private readonly state: ClientState,
  ) {}

  async run(tx: Transaction): Promise<void> {
    for (const rec of decodePayload(tx.payload)) await this.record(rec);
    await this.flush();
  }

  /** Tables by relation id for this part, so a row costs no lookup; dropped on Relation and DDL. */
  private readonly resolved = new Map<number, TargetTable | undefined>();

  private async table(relationId: number): Promise<TargetTable | undefined> {
    if (this.resolved.has(relationId)) return this.resolved.get(relationId);
    const t = await this.lookup(relationId);
    this.resolved.set(relationId, t);
    return t;
  }

  private async lookup(relationId: number): Promise<TargetTable | undefined> {
    const rel = this.relations.get(relationId);
    if (!rel) throw new SourceError(`pg-changes payload uses relation ${relationId} before describing it.`);
    let t = await this.targets.get(rel);
    if (!t && !this.opts.tables) {
      // CREATE TABLE AS: its rows come before its DDL message (the event trigger fires after them)
      await this.flush();
      await this.targets.create(rel, this.types);
      this.resolved.clear();
      t = await this.targets.get(rel);
    }
    if (!t) return undefined;
    return (await this.targets.allowed(t, this.opts.tables)) ? t : undefined;
  }

  /** Queues a statement after the open group (order is the source's order). */
  private push(statement: string, check?: [number, string]): void {
    this.closeGroup();
    this.append(statement, check);
  }

  private append(statement: string, check?: [number, string]): void {
    if (check) this.checks.push([this.sql.length, ...check]);
    this.sql.push(statement);
    this.bytes += statement.length;
  }

  private closeGroup(): void {
    const g = this.group;
    if (!g) return;
    this.group = undefined;
    // the group's rows were counted in `bytes` as they came
    this.bytes -= g.bytes;
    for (const { sql, rows } of g.statements())
      this.append(sql, rows === undefined ? undefined : [rows, g.table.display]);
  }

  /** Adds a change to the open group, or closes it and opens a new one. */
  private addToGroup(relationId: number, slot: GroupSlot, row: PayloadRow): void {
    if (!this.group?.accepts(relationId, slot)) {
      this.closeGroup();
      this.group = new RowGroup(relationId, slot);
    }
    this.bytes += this.group.add(slot, row);
  }

  private async record(rec: PayloadRecord): Promise<void> {
    switch (rec.kind) {
      case 'relation':
        this.relations.set(rec.relation.relationId, rec.relation);
        this.resolved.delete(rec.relation.relationId);
        this.closeGroup();
        return;
      case 'type':
        this.types.set(rec.typeOid, `${quoteIdent(rec.namespace)}.${quoteIdent(rec.name)}`);
        return;
      case 'insert': {
        const t = await this.table(rec.relationId);
        if (!t) return;
        this.addToGroup(rec.relationId, insertSlot(t, rec.newRow), rec.newRow);
        break;
      }
      case 'update': {
        const t = await this.table(rec.relationId);
        if (!t) return;
        const slot = updateSlot(t, rec.newRow, rec.oldKind);
        if (slot) {
          this.addToGroup(rec.relationId, slot, rec.newRow);
        } else {
          const stmt = t.update(rec.newRow, rec.oldKind, rec.oldRow);
          if (stmt) this.push(stmt, [1, t.display]);
        }
        break;
      }
      case 'delete': {
        const t = await this.table(rec.relationId);
        if (!t) return;
        const slot = deleteSlot(t, rec.oldKind, rec.oldRow);
        if (slot) this.addToGroup(rec.relationId, slot, rec.oldRow);
        else this.push(t.delete(rec.oldKind, rec.oldRow), [1, t.display]);
        break;
      }
      case 'truncate': {
        const names: string[] = [];
        for (const id of rec.relationIds) {
          const t = await this.table(id);
          // ONLY: the source sends every table it truncated, inheritance children included
          if (t) names.push(t.target);
        }
        if (names.length) {
          this.push(
            `TRUNCATE ${names.join(', ')}${rec.restartIdentity ? ' RESTART IDENTITY' : ''}${rec.cascade ? ' CASCADE' : ''}`,
          );
        }
        break;
      }
      case 'message':
        this.closeGroup();
        await this.message(rec);
        return;
    }
    if (this.bytes >= FLUSH_BYTES || this.sql.length >= FLUSH_STATEMENTS) await this.flush();
  }

  private async message(rec: Extract<PayloadRecord, { kind: 'message' }>): Promise<void> {
    if (rec.prefix === SEQUENCES_MESSAGE_PREFIX && rec.text) {
      const record = parseSequenceRecord(rec.text);
      this.opts.onSequenceRecord?.(record);
      for (const [name, v] of record.values) {
        const value = v.toString();
        if (this.opts.onSequence) this.opts.onSequence(name, value);
        else if (!this.opts.onSequenceRecord)
          this.push(
            `SELECT setval(to_regclass(${lit(name)}), ${lit(value)}::bigint) WHERE to_regclass(${lit(name)}) IS NOT NULL`,
          );
      }
      return;
    }
    if (rec.prefix === ROWS_MESSAGE_PREFIX && rec.text) {
      await this.rows(parseRowsMessage(rec.text));
      return;
    }
    if (rec.prefix === MISSING_MESSAGE_PREFIX && rec.text) {
      await this.missingValue(parseMissingMessage(rec.text));
      return;
    }
    if (rec.prefix === UNPUBLISHED_MESSAGE_PREFIX && rec.text) {
      // rows the log lacks (internal/publication.ts): not exact from here on, so refuse
      const refusal = unpublishedRowsError(rec.text, this.opts.tables);
      if (refusal) throw refusal;
      return;
    }
    if (rec.prefix !== DDL_MESSAGE_PREFIX || !rec.text) return;
    const ddl = parseDdlMessage(rec.text);
    await this.flush();
    await this.opts.switches?.beforeDdl(this.client);
    const missingBefore = await missingColumns(this.client);
    const path = ddl.searchPath.replace(/"\$user"|\$user/g, ddl.user ? quoteIdent(ddl.user) : '""');
    const run = async (): Promise<void> => {
      // the statement resolves names like the source session did; our own SQL is fully qualified
      await this.client.query(`SELECT set_config('search_path', ${lit(path)}, true)`);
      try {
        for (const statement of replayStatements(ddl.sql)) await this.client.query(statement);
      } catch (err) {
        throw new SourceError(`Replaying ${ddl.tag || 'DDL'} failed on the target: ${firstLine(err)}.`, {
          cause: err,
        });
      }
      await this.client.query(`SET LOCAL search_path = pg_catalog, pg_temp`);
    };
    if (!this.opts.tables) {
      await run();
    } else {
      // a filtered restore lacks tables the DDL may name: try it, and keep going without it
      await this.client.query('SAVEPOINT crmb_ddl');
      try {
        await run();
        await this.client.query('RELEASE SAVEPOINT crmb_ddl');
      } catch (err) {
        await this.client.query('ROLLBACK TO SAVEPOINT crmb_ddl');
        this.opts.onWarning?.(`Skipped ${ddl.tag || 'DDL'} during a filtered restore: ${firstLine(err)}.`);
      }
    }
    await this.opts.switches?.afterDdl(this.client);
    const missingAfter = await missingColumns(this.client);
    this.state.missing = new Set([...missingAfter].filter((c) => !missingBefore.has(c)));
    this.targets.invalidate();
    this.resolved.clear();
  }

  /**
   * The value the source stored for the existing rows of a column its DDL just added (ADD COLUMN
   * with a default like now()): where the replayed DDL stored another, every row that existed
   * then (all of them, at this point of the transaction) gets the source's.
   */
  private async missingValue(m: MissingMessage): Promise<void> {
    if (!this.state.missing.has(`${m.schema}\0${m.name}\0${m.column}`)) return;
    const t = await this.targets.get({
      tag: 'relation',
      relationId: ROWS_RELATION_ID,
      namespace: m.schema,
      name: m.name,
      replicaIdentity: 'f',
      columns: [{ name: m.column, isKey: false, typeOid: 0, typmod: -1 }],
    });
    if (!t || !(await this.targets.allowed(t, this.opts.tables))) return;
    const col = t.columns[0]!.sql;
    // compared as text, as both sides produced it (the same settings): types without = are fine
    this.push(
      m.value === null
        ? `UPDATE ${t.target} SET ${col} = NULL WHERE ${col} IS NOT NULL`
        : `UPDATE ${t.target} SET ${col} = ${t.value(m.value, 0)} WHERE ${col}::text IS DISTINCT FROM ${lit(m.value)}`,
    );
  }

  /**
   * The rows a rewriting DDL command left in a table (ddl-capture.ts), after that command was
   * replayed here: the target computed its own values for them (a new uuid, random(), the clock),
   * so part 0 empties the table and every part inserts the source's rows.
   */
  private async rows(m: RowsMessage): Promise<void> {
    const display = `${m.schema}.${m.name}`;
    if (m.error !== undefined) {
      const t = await this.targets.get(rowsRelation(m));
      if (t && (await this.targets.allowed(t, this.opts.tables)))
        this.opts.onWarning?.(
          `Table ${display} differs from the source: a DDL command replayed from the log gave its rows values computed on the source (a volatile default or a column's new type), and those could not be recorded there (${m.error}); compare it with the source and copy the values over.`,
        );
      return;
    }
    const t = await this.targets.get(rowsRelation(m));
    if (!t || !(await this.targets.allowed(t, this.opts.tables))) return;
    if (m.part === 0) this.push(`DELETE FROM ${t.target}`);
    for (const values of m.rows) {
      const row: PayloadRow = [...values];
      this.addToGroup(ROWS_RELATION_ID, insertSlot(t, row), row);
      if (this.bytes >= FLUSH_BYTES || this.sql.length >= FLUSH_STATEMENTS) await this.flush();
    }
  }

  private async flush(): Promise<void> {
    this.closeGroup();
    if (!this.sql.length) return;
    const sql = this.sql;
    const checks = this.checks;
    this.sql = [];
    this.checks = [];
    this.bytes = 0;
    const res = (await this.client.query(sql.join(';\n'))) as pg.QueryResult | pg.QueryResult[];
    const results = Array.isArray(res) ? res : [res];
    for (const [i, expected, table] of checks) {
      const n = results[i]?.rowCount;
      if (n !== expected) {
        throw new SourceError(
          `Replay expected to change ${expected === 1 ? 'exactly one row' : `${expected} rows (one per key)`} of ${table} but changed ${n ?? 0}; the target does not match the source.`,
        );
      }
    }
  }
}
