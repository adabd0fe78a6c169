/**
 * A dialect-neutral description of a database's tables, so tests can check that two
 * servers (or a source and its restore) hold the same logical schema: column names,
 * normalised types, nullability, primary keys and foreign keys.
 */
import type { Knex } from 'knex';
import { dialectOf, withKnex } from './connect.js';

export interface LogicalColumn {
  readonly name: string;
  /** e.g. `bigint`, `varchar(255)`, `decimal(14,2)`, `timestamptz(6)`, `json`, `enum(a,b)`, `boolean`, `text`. */
  readonly type: string;
  readonly nullable: boolean;
}

export interface LogicalTable {
  readonly columns: LogicalColumn[];
  /** Primary key columns in key order; empty when the table has none. */
  readonly primaryKey: string[];
  /** `column -> table.column`, sorted. */
  readonly foreignKeys: string[];
}

const IGNORED = new Set(['knex_migrations', 'knex_migrations_lock']);

/** The logical schema of the current database (PostgreSQL: schema `public`). */
export async function logicalSchema(knexOrUrl: Knex | string): Promise<Record<string, LogicalTable>> {
  return withKnex(knexOrUrl, (knex) => (dialectOf(knex) === 'pg' ? pgSchema(knex) : mysqlSchema(knex)));
}

type Row = Record<string, unknown>;

function rowsOf(result: unknown, dialect: 'pg' | 'mysql'): Row[] {
  if (dialect === 'pg') return (result as { rows: Row[] }).rows;
  return (result as [Row[]])[0];
}

function assemble(cols: Row[], keys: Row[], fks: Row[], typeOf: (c: Row) => string): Record<string, LogicalTable> {
  const out: Record<string, LogicalTable> = {};
  for (const c of cols) {
    const t = String(c.table_name);
    if (IGNORED.has(t)) continue;
    out[t] ??= { columns: [], primaryKey: [], foreignKeys: [] };
    out[t].columns.push({ name: String(c.column_name), type: typeOf(c), nullable: c.is_nullable === 'YES' });
  }
  for (const k of keys) out[String(k.table_name)]?.primaryKey.push(String(k.column_name));
  for (const f of fks) out[String(f.table_name)]?.foreignKeys.push(`${String(f.column_name)} -> ${String(f.ref_table)}.${String(f.ref_column)}`);
  for (const t of Object.values(out)) t.foreignKeys.sort();
  return out;
}

async function pgSchema(knex: Knex): Promise<Record<string, LogicalTable>> {
  const cols = rowsOf(
    await knex.raw(`
      SELECT c.table_name, c.column_name, c.data_type, c.udt_name, c.character_maximum_length AS len,
             c.numeric_precision AS prec, c.numeric_scale AS scale, c.datetime_precision AS dtprec, c.is_nullable,
             (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e JOIN pg_type ty ON ty.oid = e.enumtypid
               WHERE ty.typname = c.udt_name) AS enum_values
      FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
      WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
      ORDER BY c.table_name, c.ordinal_position`),
    'pg',
  );
  const keys = rowsOf(
    await knex.raw(`
      SELECT k.table_name, k.column_name FROM information_schema.table_constraints tc
      JOIN information_schema.key_column_usage k USING (constraint_schema, constraint_name, table_name)
      WHERE tc.table_schema = 'public' AND tc.constraint_type = 'PRIMARY KEY' ORDER BY k.table_name, k.ordinal_position`),
    'pg',
  );
  const fks = rowsOf(
    await knex.raw(`
      SELECT cl.relname AS table_name, a.attname AS column_name, rc.relname AS ref_table, ra.attname AS ref_column
      FROM pg_constraint co JOIN pg_class cl ON cl.oid = co.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
      JOIN pg_class rc ON rc.oid = co.confrelid
      JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
      JOIN pg_attribute ra ON ra.attrelid = co.confrelid AND ra.attnum = co.confkey[1]
      WHERE co.contype = 'f' AND n.nspname = 'public'`),
    'pg',
  );
  return assemble(cols, keys, fks, (c) => {
    const dt = String(c.data_type);
    switch (dt) {
      case 'character varying':
        return `varchar(${String(c.len)})`;
      case 'character':
        return `char(${String(c.len)})`;
      case 'numeric':
        return `decimal(${String(c.prec)},${String(c.scale)})`;
      case 'timestamp with time zone':
      case 'timestamp without time zone':
        return `timestamptz(${String(c.dtprec)})`;
      case 'jsonb':
      case 'json':
        return 'json';
      case 'USER-DEFINED':
        return c.enum_values ? `enum(${String(c.enum_values)})` : String(c.udt_name);
      default:
        return dt;
    }
  });
}

async function mysqlSchema(knex: Knex): Promise<Record<string, LogicalTable>> {
  const cols = rowsOf(
    await knex.raw(`
      SELECT c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name, c.DATA_TYPE AS data_type, c.COLUMN_TYPE AS column_type,
             c.CHARACTER_MAXIMUM_LENGTH AS len, c.NUMERIC_PRECISION AS prec, c.NUMERIC_SCALE AS scale,
             c.DATETIME_PRECISION AS dtprec, c.IS_NULLABLE AS is_nullable,
             EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS cc
                     WHERE cc.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA AND cc.CHECK_CLAUSE LIKE CONCAT('%json_valid(%', c.COLUMN_NAME, '%')) AS is_json
      FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
      WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
      ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION`),
    'mysql',
  );
  const keys = rowsOf(
    await knex.raw(`
      SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name FROM information_schema.KEY_COLUMN_USAGE
      WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY TABLE_NAME, ORDINAL_POSITION`),
    'mysql',
  );
  const fks = rowsOf(
    await knex.raw(`
      SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, REFERENCED_TABLE_NAME AS ref_table, REFERENCED_COLUMN_NAME AS ref_column
      FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL`),
    'mysql',
  );
  return assemble(cols, keys, fks, (c) => {
    const dt = String(c.data_type).toLowerCase();
    const ct = String(c.column_type).toLowerCase();
    if (dt === 'json' || (Number(c.is_json) === 1 && dt === 'longtext')) return 'json';
    if (dt === 'tinyint' && ct.startsWith('tinyint(1)')) return 'boolean';
    switch (dt) {
      case 'int':
        return 'integer';
      case 'varchar':
        return `varchar(${String(c.len)})`;
      case 'char':
        return `char(${String(c.len)})`;
      case 'decimal':
        return `decimal(${String(c.prec)},${String(c.scale)})`;
      case 'timestamp':
      case 'datetime':
        return `timestamptz(${String(c.dtprec)})`;
      case 'text':
      case 'mediumtext':
      case 'longtext':
        return 'text';
      case 'enum':
        return `enum(${ct.slice(5, -1).replace(/'/g, '')})`;
      default:
        return dt;
    }
  });
}
