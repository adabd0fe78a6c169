/**
 * Replays `mysql-changes/1` transaction parts (change-log.ts) into a MySQL/MariaDB target database.
 *
 * Contract for target.ts:
 *   MysqlApplier.connect(params) or new MysqlApplier(connection): one session on the target
 *     database (the connection must allow multiple statements; `connect` opens one that does)
 *   apply(tx, { tables? })  START TRANSACTION at a transaction's first part, COMMIT at the part
 *                           with `more` falsy; call with the parts of one transaction in order,
 *                           nothing in between. On error the transaction is rolled back and a
 *                           SourceError thrown.
 *   close()
 *
 * The session: foreign key checks on for rows, as the source's session had them (payload records
 * "F"), because MariaDB and MySQL 8 make ON DELETE/UPDATE CASCADE and SET NULL inside InnoDB,
 * below the binlog: the log holds the parent's row only, and the target's own foreign keys must
 * make the rest (rows the source changed with foreign_key_checks=0 cascaded nothing there, and
 * nothing here). Off for DDL (a statement the source ran with checks off must not fail here, and
 * with them on it changes nothing checks would refuse) and under --tables (a table of the subset
 * may reference one that is not restored). time_zone '+00:00'
 * (TIMESTAMP values are UTC text), sql_mode NO_AUTO_VALUE_ON_ZERO only (an AUTO_INCREMENT 0 stays
 * 0; no NO_ZERO_DATE/NO_ZERO_IN_DATE, so zero dates go back as they were; no strict mode is needed
 * since every value came out of a column of the same type), sql_log_bin=0 when the account may
 * set it (so the replay does not flow on to the target's replicas and streams), and
 * TRIGGER_GUARD_VARIABLE: the target creates every trigger with its body guarded by it until replay
 * ends (internal/statements.ts `guardTrigger`), and a CREATE TRIGGER in the log is replayed guarded
 * too, so no trigger does here again what the log already holds.
 *
 * Rows: consecutive inserts of one table and one set of logged columns become one multi-row
 * INSERT; consecutive deletes by a one-column primary key one DELETE … IN, and consecutive updates
 * by a one-column integer primary key that keep the key and change the same columns one
 * `UPDATE t JOIN (SELECT k, v… UNION ALL …) n ON t.pk = n.k SET …` (a row updated twice starts a
 * new statement, so each sees the one before), except in a table with a foreign key to itself,
 * where the server's row order could cascade a row away before the statement reaches it; every
 * other UPDATE and DELETE finds its row by the
 * primary key's before-image values, or, for a table without one, by every logged column with
 * `<=>` and LIMIT 1 (of two identical rows, each delete removes one).
 * Statements are sent many at a time (one round trip per ~1 MiB of SQL), and every statement must
 * touch exactly the rows its changes name: a row the target lacks means the target does not match
 * the source, and the replay stops with the table and key instead of going on quietly.
 *
 * DDL runs in log order, outside the rows' transaction (MySQL commits implicitly around DDL), with
 * the target database as default database, under the sql_mode, time zone and connection
 * collation it ran with on the source. A statement that names the source database explicitly
 * (`ALTER TABLE crm.contacts …`) is pointed at the target database (internal/statements.ts
 * `retarget`), so a replay never writes into the source's namesake on the target server.
 * Under `--tables`, rows of other tables are skipped, and so is DDL that names none of the tables
 * (DDL whose tables cannot be read from it, such as CREATE VIEW, is skipped too, with a warning).
 */
import mysql from 'mysql2/promise';
import type { Transaction } from '../../src/driver/source-driver.js';
import { SourceError } from '../../src/util/errors.js';
import { NOT_LOGGED, type ColumnValue, type RowImage } from './binlog/types.js';
import { literal, quoteIdent, TargetTables, type TargetTable } from './internal/apply-sql.js';
import { decodeHeader, decodePayload, type PayloadStatement, type PayloadTable } from './internal/payload.js';
import { guardTrigger, retarget, TRIGGER_GUARD_VARIABLE } from './internal/statements.js';

export interface MysqlApplyOptions {
  /** Only changes to these tables (`database.table` as the source names them, or bare `table`). */
  readonly tables?: ReadonlySet<string>;
}

/** A batch is sent when its SQL reaches this size. */
const FLUSH_BYTES = 1024 * 1024;
const FLUSH_STATEMENTS = 2_000;
const APPLY_SQL_MODE = "'NO_AUTO_VALUE_ON_ZERO'";
const SESSION_SETUP = `SET SESSION foreign_key_checks = 0, time_zone = '+00:00', sql_mode = ${APPLY_SQL_MODE}`;
/** sql_mode bit of ANSI_QUOTES: "…" is an identifier, not a string. */
const ANSI_QUOTES = 4n;

interface Pending {
  /** SQL of the statement being grown (multi-row INSERT, DELETE … IN), head included. */
  head: string;
  values: string[];
  close: string;
  key: string;
  rows: number;
  table: string;
  /** Between values: ',' in a VALUES or IN list, ' UNION ALL ' in a batched UPDATE. */
  sep: string;
  /** Key literals in the statement (a batched UPDATE may name each row once). */
  keys?: Set<string>;
  keyName?: string;
}

function same(a: ColumnValue | undefined, b: ColumnValue | undefined): boolean {
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  return Object.is(a, b);
}

export class MysqlApplier {
  private ready = false;
  private open = false;
  private database = '';
  private tables: TargetTables | undefined;
  private readonly sql: string[] = [];
  /** Rows each statement of `sql` must touch, and what it is, for the error. */
  private readonly expected: Array<[number, string]> = [];
  private bytes = 0;
  private pending: Pending | undefined;
  private collations = new Map<number, string | null>();
  /** foreign_key_checks as the session has it (undefined: unknown after an error), and as the next row wants it. */
  private sessionFk: boolean | undefined = false;
  private rowFk = true;

  constructor(
    private readonly conn: mysql.Connection,
    private readonly opts: { readonly onWarning?: (message: string) => void } = {},
  ) {}

  /** A session on the target database with what the applier needs (several statements per query). */
  static async connect(
    params: mysql.ConnectionOptions,
    opts: { readonly onWarning?: (message: string) => void } = {},
  ): Promise<MysqlApplier> {
    const conn = await mysql.createConnection({
      ...params,
      multipleStatements: true,
      charset: 'utf8mb4',
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
    return new MysqlApplier(conn, opts);
  }

  private async setup(): Promise<void> {
    if (this.ready) return;
    const config = (this.conn as unknown as { config?: { multipleStatements?: boolean } }).config;
    if (config && !config.multipleStatements)
      throw new SourceError(
        'The replay connection must allow several statements per query (mysql2 multipleStatements: true).',
      );
    await this.conn.query('SET NAMES utf8mb4');
    await this.conn.query(SESSION_SETUP);
    await this.conn.query(`SET ${TRIGGER_GUARD_VARIABLE} = 1`);
    // without the privilege the replay is logged on the target like any write: harmless, slower
    await this.conn.query('SET SESSION sql_log_bin = 0').catch(() => undefined);
    const [rows] = await this.conn.query<mysql.RowDataPacket[]>('SELECT DATABASE() AS db');
    const db = rows[0]?.db;
    if (typeof db !== 'string' || !db)
      throw new SourceError(
        'The replay connection has no default database; connect it to the target database.',
      );
    this.database = db;
    this.tables = new TargetTables(this.conn, db);
    this.ready = true;
  }

  async apply(tx: Transaction, opts: MysqlApplyOptions = {}): Promise<void> {
    try {
      await this.setup();
      const header = decodeHeader(tx.payload);
      if (!this.open) await this.begin();
      // every part starts with checks on; under --tables they stay off
      this.rowFk = !opts.tables;
      const targets = new Map<PayloadTable, TargetTable | null>();
      const wanted = (t: PayloadTable): boolean =>
        !opts.tables || opts.tables.has(`${t.database}.${t.table}`) || opts.tables.has(t.table);
      const target = async (t: PayloadTable): Promise<TargetTable | null> => {
        let tt = targets.get(t);
        if (tt === undefined) {
          tt = (await this.tables!.get(t)) ?? null;
          if (!tt)
            throw new SourceError(
              `Table ${t.database}.${t.table} has rows in the log but no table ${this.database}.${t.table} exists on the target, so the target does not match the source.`,
            );
          targets.set(t, tt);
        }
        return tt;
      };
      for (const rec of decodePayload(tx.payload)) {
        if (rec.kind === 'statement') {
          await this.statement(rec.statement, header.database, opts.tables);
          targets.clear();
          continue;
        }
        if (rec.kind === 'foreign-key-checks') {
          this.rowFk = rec.on && !opts.tables;
          continue;
        }
        if (!wanted(rec.table)) continue;
        const t = await target(rec.table);
        if (!t) continue;
        this.foreignKeyChecks();
        if (rec.kind === 'insert') this.insert(t, rec.after);
        else if (rec.kind === 'update') this.update(t, rec.before, rec.after);
        else this.delete(t, rec.before);
        if (this.bytes >= FLUSH_BYTES || this.sql.length >= FLUSH_STATEMENTS) await this.flush();
      }
      if (!tx.more) {
        await this.flush();
        await this.conn.query('COMMIT');
        this.open = false;
      }
    } catch (err) {
      this.reset();
      this.sessionFk = undefined;
      if (this.open) await this.conn.query('ROLLBACK').catch(() => undefined);
      this.open = false;
      if (err instanceof SourceError) throw err;
      throw new SourceError(
        `Replaying the transaction at position ${tx.position} into database ${this.database || '(unknown)'} failed: ${firstLine(err)}.`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    if (this.open) await this.conn.query('ROLLBACK').catch(() => undefined);
    this.open = false;
    await this.conn.end().catch(() => undefined);
  }

  private async begin(): Promise<void> {
    await this.conn.query('START TRANSACTION');
    this.open = true;
  }

  /** Queues a change of foreign_key_checks when the next row wants another state than the session's. */
  private foreignKeyChecks(): void {
    if (this.sessionFk === this.rowFk) return;
    this.closePending();
    this.push(`SET SESSION foreign_key_checks = ${this.rowFk ? 1 : 0}`, 0, 'setting of foreign_key_checks');
    this.sessionFk = this.rowFk;
  }

  private reset(): void {
    this.sql.length = 0;
    this.expected.length = 0;
    this.bytes = 0;
    this.pending = undefined;
  }

  private push(sql: string, rows: number, what: string): void {
    this.sql.push(sql);
    this.expected.push([rows, what]);
    this.bytes += sql.length;
  }

  private closePending(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    let what = p.table;
    if (p.keys) {
      const shownKeys = [...p.keys].slice(0, 5).map((k) => `${p.keyName}=${k}`);
      what = `${p.table} row${p.keys.size === 1 ? '' : 's'} (${shownKeys.join(', ')}${p.keys.size > 5 ? ', …' : ''})`;
    }
    this.push(`${p.head}${p.values.join(p.sep)}${p.close}`, p.rows, what);
  }

  /** Adds a value to the statement being grown, or starts one. */
  private grow(key: string, head: string, close: string, value: string, table: string, sep = ','): void {
    const p = this.pending;
    if (p && p.key === key) {
      p.values.push(value);
      p.rows++;
      this.bytes += value.length + sep.length;
      return;
    }
    this.closePending();
    this.pending = { head, values: [value], close, key, rows: 1, table, sep };
    this.bytes += head.length + value.length + close.length;
  }

  private insert(t: TargetTable, after: RowImage): void {
    const cols: number[] = [];
    const vals: string[] = [];
    after.forEach((v, i) => {
      if (v === NOT_LOGGED) return;
      cols.push(i);
      vals.push(literal(v, t.columns[i]!));
    });
    const key = `I${t.sqlName}:${cols.join(',')}`;
    const head = `INSERT INTO ${t.sqlName} (${cols.map((i) => t.quoted[i]).join(',')}) VALUES `;
    this.grow(key, head, '', `(${vals.join(',')})`, `insert into ${t.sqlName}`);
  }

  /** `col = v AND …` by the key, or `col <=> v AND …` over every logged column. */
  private where(t: TargetTable, before: RowImage): { sql: string; keyed: boolean } {
    const keyed = t.key.length > 0 && t.key.every((i) => before[i] !== NOT_LOGGED && before[i] !== undefined);
    const cols = keyed ? t.key : before.flatMap((v, i) => (v === NOT_LOGGED ? [] : [i]));
    const op = keyed ? ' = ' : ' <=> ';
    const sql = cols
      .map((i) => `${t.quoted[i]}${op}${literal(before[i]!, t.columns[i]!, true)}`)
      .join(' AND ');
    return { sql, keyed };
  }

  private describeKey(t: TargetTable, before: RowImage): string {
    const cols = t.key.length ? t.key : before.flatMap((v, i) => (v === NOT_LOGGED ? [] : [i]));
    return cols.map((i) => `${t.columnNames[i]}=${shown(before[i])}`).join(', ');
  }

  private update(t: TargetTable, before: RowImage, after: RowImage): void {
    const changed: number[] = [];
    after.forEach((v, i) => {
      if (v !== NOT_LOGGED && !same(v, before[i])) changed.push(i);
    });
    if (!changed.length) return; // the row does not change
    const k = t.key.length === 1 ? t.key[0]! : -1;
    // consecutive updates of rows found by one integer key that keep it, changing the same
    // columns, become one UPDATE … JOIN (SELECT … UNION ALL SELECT …): one statement for many rows
    if (
      k >= 0 &&
      typeof before[k] === 'bigint' &&
      !changed.includes(k) &&
      !(t.selfReferencing && this.sessionFk)
    ) {
      const keyLit = literal(before[k]!, t.columns[k]!, true);
      const group = `U${t.sqlName}:${changed.join(',')}`;
      if (this.pending?.key === group && this.pending.keys?.has(keyLit)) this.closePending();
      const value = `SELECT ${keyLit} AS k${changed.map((i, n) => `, ${literal(after[i]!, t.columns[i]!)} AS c${n}`).join('')}`;
      const head = `UPDATE ${t.sqlName} AS crmb_t JOIN (`;
      const close = `) AS crmb_n ON crmb_t.${t.quoted[k]} = crmb_n.k SET ${changed.map((i, n) => `crmb_t.${t.quoted[i]} = crmb_n.c${n}`).join(', ')}`;
      this.grow(group, head, close, value, `update of ${t.sqlName}`, ' UNION ALL ');
      const p = this.pending!;
      (p.keys ??= new Set()).add(keyLit);
      p.keyName = t.columnNames[k];
      return;
    }
    this.closePending();
    const sets = changed.map((i) => `${t.quoted[i]} = ${literal(after[i]!, t.columns[i]!)}`);
    const w = this.where(t, before);
    this.push(
      `UPDATE ${t.sqlName} SET ${sets.join(', ')} WHERE ${w.sql}${w.keyed ? '' : ' LIMIT 1'}`,
      1,
      `update of ${t.sqlName} row (${this.describeKey(t, before)})`,
    );
  }

  private delete(t: TargetTable, before: RowImage): void {
    const w = this.where(t, before);
    if (w.keyed && t.key.length === 1 && !(t.selfReferencing && this.sessionFk)) {
      const k = t.key[0]!;
      const head = `DELETE FROM ${t.sqlName} WHERE ${t.quoted[k]} IN (`;
      this.grow(
        `D${t.sqlName}`,
        head,
        ')',
        literal(before[k]!, t.columns[k]!, true),
        `delete from ${t.sqlName}`,
      );
      return;
    }
    this.closePending();
    this.push(
      `DELETE FROM ${t.sqlName} WHERE ${w.sql}${w.keyed ? '' : ' LIMIT 1'}`,
      1,
      `delete from ${t.sqlName} of row (${this.describeKey(t, before)})`,
    );
  }

  /** Sends the batch and checks that each statement touched the rows it names. */
  private async flush(): Promise<void> {
    this.closePending();
    if (!this.sql.length) return;
    const sql = this.sql.join(';\n');
    const expected = [...this.expected];
    this.reset();
    const [res] = await this.conn.query(sql);
    const results = (expected.length === 1 ? [res] : (res as unknown[])) as Array<{ affectedRows?: number }>;
    expected.forEach(([rows, what], i) => {
      const got = results[i]?.affectedRows;
      if (got !== rows)
        throw new SourceError(
          `Replaying the ${what} touched ${got ? got : 'no'} row${got === 1 ? '' : 's'} on the target where the source changed ${rows}, so the target does not match the source (was it restored from this source's snapshot?).`,
        );
    });
  }

  private async collation(id: number): Promise<string | null> {
    if (!this.collations.has(id)) {
      const [rows] = await this.conn.query<mysql.RowDataPacket[]>(
        'SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE ID = ?',
        [id],
      );
      this.collations.set(id, rows[0] ? String(rows[0].name) : null);
    }
    return this.collations.get(id) ?? null;
  }

  private async statement(
    s: PayloadStatement,
    sourceDb: string,
    only: ReadonlySet<string> | undefined,
  ): Promise<void> {
    if (only) {
      const hit = s.tables.some((n) => only.has(n) || only.has(n.slice(n.indexOf('.') + 1)));
      if (!hit) {
        if (!s.tables.length)
          this.opts.onWarning?.(
            `Skipped a statement the --tables filter cannot place (it names no table crm-backup can read): ${oneLine(s.sql)}`,
          );
        return;
      }
    }
    await this.flush();
    if (this.open) await this.conn.query('COMMIT');
    this.open = false;
    const ansi = s.sqlMode !== null && (s.sqlMode & ANSI_QUOTES) !== 0n;
    const sets = [
      'foreign_key_checks = 0',
      `time_zone = ${s.timeZone ? mysql.escape(s.timeZone) : "'+00:00'"}`,
    ];
    if (s.sqlMode !== null) sets.push(`sql_mode = ${s.sqlMode.toString()}`);
    const collation = s.charset ? await this.collation(s.charset.connection) : null;
    if (collation) sets.push(`collation_connection = ${mysql.escape(collation)}`);
    this.sessionFk = undefined;
    await this.conn.query(`SET SESSION ${sets.join(', ')}`);
    try {
      await this.conn.query(`USE ${quoteIdent(this.database)}`);
      const sql = retarget(s.sql, sourceDb, this.database, ansi);
      await this.conn.query(guardTrigger(sql, ansi) ?? sql);
    } finally {
      await this.conn.query(`SET NAMES utf8mb4; ${SESSION_SETUP}`);
      this.sessionFk = false;
      this.tables?.invalidate();
    }
    await this.begin();
  }
}

function shown(v: ColumnValue | undefined): string {
  if (v === null) return 'NULL';
  if (v === undefined || v === NOT_LOGGED) return '?';
  if (Buffer.isBuffer(v)) return JSON.stringify(v.toString('utf8'));
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 119)}…` : flat;
}

function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]?.replace(/\.$/, '') ?? 'unknown error';
}
