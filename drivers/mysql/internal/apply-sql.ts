/**
 * SQL text for replaying `mysql-changes/1` rows: literals that put each decoded value back
 * exactly, and what the applier needs to know of a target table (its columns' character sets and
 * primary key), read from information_schema once per table and again after any DDL.
 *
 * Literals, under the applier's session (time_zone '+00:00', sql_mode NO_AUTO_VALUE_ON_ZERO, so
 * backslash escapes are on and zero dates are accepted):
 *   integers, SET masks, ENUM indexes, YEAR   decimal text (a number into an ENUM or SET column is
 *                                             its index or mask; YEAR 0 stays 0000)
 *   DOUBLE                                    shortest round-trip text with an exponent (`0.1e0`),
 *                                             so it is read as a double, never as a DECIMAL
 *   FLOAT                                     the shortest text that reads back as the same float32;
 *                                             in a WHERE clause the float's exact double value,
 *                                             since the column is widened to double to compare
 *   DECIMAL                                   the digits, unquoted (a quoted one compares as double)
 *   DATE, TIME, DATETIME, TIMESTAMP, JSON     quoted text (TIMESTAMP is UTC text, read under +00:00)
 *   BIT                                       b'0101…'
 *   character columns (Buffer)                `_<charset> X'…'`: the bytes as stored, in the
 *                                             column's character set, compared under the
 *                                             column's collation (so a key lookup uses its index)
 *   binary columns, GEOMETRY (Buffer)         X'…'
 */
import type mysql from 'mysql2/promise';
import { ColumnType, NOT_LOGGED, type ColumnValue } from '../binlog/types.js';
import type { PayloadTable } from './payload.js';

export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

const ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\n': '\\n',
  '\r': '\\r',
  '\x1a': '\\Z',
  "'": "\\'",
  '\\': '\\\\',
};

export function quoteString(s: string): string {
  // eslint-disable-next-line no-control-regex -- NUL and Ctrl-Z are what MySQL escapes
  return `'${s.replace(/[\0\n\r\x1a'\\]/g, (c) => ESCAPES[c] ?? c)}'`;
}

/** A double as a literal the server reads as that same double. */
export function doubleLiteral(v: number): string {
  if (!Number.isFinite(v)) throw new Error(`${v} cannot be written into a MySQL column.`);
  if (Object.is(v, -0)) return '-0e0';
  const s = String(v);
  return /e/i.test(s) ? s : `${s}e0`;
}

/**
 * The shortest decimal text that reads back as the float32 `v`. The server parses the literal as
 * a double and rounds it to float, and Math.fround(Number(s)) does the same two roundings.
 */
export function floatLiteral(v: number): string {
  if (Object.is(v, -0) || v === 0) return Object.is(v, -0) ? '-0e0' : '0e0';
  for (let p = 1; p <= 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return doubleLiteral(Number(s));
  }
  return doubleLiteral(v);
}

const DECIMAL_TEXT = /^-?\d+(?:\.\d+)?$/;

function bits(b: Buffer): string {
  let s = '';
  for (const byte of b) s += byte.toString(2).padStart(8, '0');
  return `b'${s || '0'}'`;
}

/** What a column needs to be written: its binlog type and, on the target, its character set. */
export interface ColumnTarget {
  readonly type: number;
  /** Character set of the column on the target; undefined for binary columns. */
  readonly charset: string | undefined;
}

/** `where`: the literal is compared with the column, not assigned to it. */
export function literal(v: ColumnValue, c: ColumnTarget, where = false): string {
  if (v === null) return 'NULL';
  if (v === NOT_LOGGED) throw new Error('a column the log does not hold has no value to write.');
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'number':
      if (c.type === ColumnType.FLOAT) return where ? doubleLiteral(v) : floatLiteral(v);
      if (c.type === ColumnType.DOUBLE) return doubleLiteral(v);
      if (!Number.isFinite(v)) throw new Error(`${v} cannot be written into a MySQL column.`);
      return String(v);
    case 'string':
      if ((c.type === ColumnType.NEWDECIMAL || c.type === ColumnType.DECIMAL) && DECIMAL_TEXT.test(v))
        return v;
      return quoteString(v);
    default:
      if (c.type === ColumnType.BIT) return bits(v);
      return c.charset ? `_${c.charset} X'${v.toString('hex')}'` : `X'${v.toString('hex')}'`;
  }
}

/** A table on the target, as the applier writes it. */
export interface TargetTable {
  /** `db`.`table` on the target. */
  readonly sqlName: string;
  readonly columnNames: readonly string[];
  /** Quoted column names, in the binlog's column order. */
  readonly quoted: readonly string[];
  readonly columns: readonly ColumnTarget[];
  /** Column numbers of the key rows are found by: the primary key, or none (every column, LIMIT 1). */
  readonly key: readonly number[];
  /** A foreign key of the table references the table itself (one row's change can cascade to another). */
  readonly selfReferencing: boolean;
}

interface SchemaColumn {
  name: string;
  charset: string | null;
  primary: boolean;
}

interface SchemaTable {
  columns: SchemaColumn[];
  selfReferencing: boolean;
}

/** Target tables by source table name, read from information_schema when first used. */
export class TargetTables {
  private readonly cache = new Map<string, SchemaTable | null>();

  constructor(
    private readonly conn: mysql.Connection,
    private readonly database: string,
  ) {}

  /** Forget what was read (after DDL). */
  invalidate(): void {
    this.cache.clear();
  }

  private async schema(table: string): Promise<SchemaTable | null> {
    if (this.cache.has(table)) return this.cache.get(table) ?? null;
    // one round trip: whether a foreign key of the table references it rides along on every column
    const [rows] = await this.conn.query<mysql.RowDataPacket[]>(
      `SELECT COLUMN_NAME AS name, CHARACTER_SET_NAME AS charset, COLUMN_KEY = 'PRI' AS pri,
              (SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS
                WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ? AND UNIQUE_CONSTRAINT_SCHEMA = ?
                  AND REFERENCED_TABLE_NAME = ?) AS self
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [this.database, table, this.database, table, this.database, table],
    );
    if (!rows.length) {
      this.cache.set(table, null);
      return null;
    }
    const t = {
      columns: rows.map((r) => ({
        name: String(r.name),
        charset: r.charset === null || r.charset === 'binary' ? null : String(r.charset),
        primary: Number(r.pri) === 1,
      })),
      selfReferencing: Number(rows[0]!.self) > 0,
    };
    this.cache.set(table, t);
    return t;
  }

  /** How to write rows of `t` on the target; undefined when the target has no such table. */
  async get(t: PayloadTable): Promise<TargetTable | undefined> {
    const found = await this.schema(t.table);
    if (!found) return undefined;
    const schema = found.columns;
    const byName = new Map(schema.map((c) => [c.name.toLowerCase(), c]));
    const names = t.columns.map((c, i) => c.name || schema[i]?.name || `column ${i + 1}`);
    const targets = names.map((n) => byName.get(n.toLowerCase()));
    const columns = t.columns.map((c, i) => ({ type: c.type, charset: targets[i]?.charset ?? undefined }));
    let key = t.primaryKey ? [...t.primaryKey] : targets.flatMap((c, i) => (c?.primary ? [i] : []));
    // a key the binlog row cannot fill (a column missing from the map) cannot find rows
    if (key.some((i) => i >= names.length)) key = [];
    return {
      sqlName: `${quoteIdent(this.database)}.${quoteIdent(t.table)}`,
      columnNames: names,
      quoted: names.map(quoteIdent),
      columns,
      key,
      selfReferencing: found.selfReferencing,
    };
  }
}
