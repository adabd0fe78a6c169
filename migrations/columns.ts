/**
 * Column helpers shared by the CRM migrations, so both dialects get the same logical
 * types: timestamps with time zone and microseconds, JSON, money as decimal(14,2), and
 * bigint keys that MySQL can reference (FK columns must match `bigint unsigned`).
 */
import type { Knex } from 'knex';

/** timestamptz(6) on PostgreSQL, timestamp(6) on MySQL (stored as UTC). */
export function tz(t: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return t.timestamp(name, { useTz: true, precision: 6 });
}

/** timestamptz(6) on PostgreSQL, datetime(6) on MySQL (no zone conversion; the app writes UTC). */
export function dt(t: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return t.datetime(name, { useTz: true, precision: 6 });
}

export function money(t: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return t.decimal(name, 14, 2);
}

/** jsonb on PostgreSQL, json on MySQL (longtext + json_valid check on MariaDB). */
export function json(t: Knex.CreateTableBuilder, name: string): Knex.ColumnBuilder {
  return t.jsonb(name);
}

/** A bigint column referencing `table.id`. */
export function ref(
  t: Knex.CreateTableBuilder,
  name: string,
  table: string,
  onDelete: 'CASCADE' | 'SET NULL' | 'RESTRICT' = 'RESTRICT',
): Knex.ColumnBuilder {
  const col = t.bigInteger(name).unsigned();
  t.foreign(name).references('id').inTable(table).onDelete(onDelete);
  return col;
}

/** created_at, updated_at (NOT NULL) and the soft-delete column deleted_at (NULL = live). */
export function lifecycle(t: Knex.CreateTableBuilder): void {
  tz(t, 'created_at').notNullable();
  tz(t, 'updated_at').notNullable();
  tz(t, 'deleted_at').nullable();
}
