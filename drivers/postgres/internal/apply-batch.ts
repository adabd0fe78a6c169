/**
 * Merges consecutive row changes of one table into one statement: a multi-row INSERT, an
 * `UPDATE … FROM (VALUES …)` or a `DELETE … USING (VALUES …)` joined on the replica identity key.
 * One statement per ~100 rows instead of one per row is what lifts replay of a CRM's key-range
 * updates from ~10k to tens of thousands of changes per second (bench/replay.ts).
 *
 * Exactness rules (apply.ts keeps groups in record order; only neighbours merge):
 * - a group holds one kind of change on one table; each statement one shape: the same columns
 *   present (an unchanged TOAST value is absent, so the target keeps its copy), the same keys;
 * - a key appears at most once per group (a second change of it starts a new group), so every
 *   VALUES row meets exactly one target row, the expected row count is the statement's row count,
 *   and the changes of a group touch distinct rows: their order within the group is immaterial;
 * - key-changing updates, REPLICA IDENTITY FULL rows and rows with a NULL or absent key are not
 *   grouped: they keep their one-row statement (and its ctid lookup for duplicates);
 * - UPDATEs are grouped only where no other unique or exclusion index exists (updatesCommute):
 *   there a set of updates of distinct keys has the same result in any order.
 * VALUES rows carry casts in the first row only: PostgreSQL resolves each VALUES column to the
 * one explicit type, and the later literals go through the same input function.
 */
import type { PayloadRow, PayloadValue } from './payload.js';
import { lit, type TargetTable } from './apply-sql.js';

/** Rows per statement: enough to amortise parse and plan, small enough to plan as index probes. */
export const GROUP_ROWS_MAX = 1_000;
/** Aliases no user column can shadow in `alias.column` references. */
const T = 'crmb_t';
const V = 'crmb_v';

export type GroupKind = 'insert' | 'update' | 'delete';

/** Where a change fits into a group: its shape and key, or undefined when it must stand alone. */
export interface GroupSlot {
  readonly kind: GroupKind;
  readonly table: TargetTable;
  /** Columns the statement writes (SET list; all for INSERT), by relation column index. */
  readonly write: readonly number[];
  /** Key columns to join on (none for INSERT). */
  readonly key: readonly number[];
  readonly shape: string;
  /** The key values as one string, to detect a key changed twice in one group. */
  readonly keyText: string | undefined;
}

export function insertSlot(table: TargetTable, row: PayloadRow): GroupSlot {
  const write = row.map((_, i) => i);
  return { kind: 'insert', table, write, key: [], shape: 'I', keyText: undefined };
}

/** Key columns and their values; undefined when a key value is NULL or absent. */
function keyOf(table: TargetTable, row: PayloadRow): { key: number[]; keyText: string } | undefined {
  const key: number[] = [];
  const texts: string[] = [];
  for (let i = 0; i < table.columns.length; i++) {
    if (!table.columns[i]?.isKey) continue;
    const v = row[i];
    if (typeof v !== 'string') return undefined;
    key.push(i);
    texts.push(v);
  }
  // NUL never occurs in PostgreSQL text, so the joined form is unambiguous
  return key.length ? { key, keyText: texts.join('\u0000') } : undefined;
}

export function updateSlot(
  table: TargetTable,
  newRow: PayloadRow,
  oldKind: 'K' | 'O' | null,
): GroupSlot | undefined {
  if (oldKind !== null || !table.updatesCommute) return undefined;
  const k = keyOf(table, newRow);
  if (!k) return undefined;
  const write: number[] = [];
  newRow.forEach((v, i) => {
    const c = table.columns[i];
    if (v !== false && c && !c.identityAlways) write.push(i);
  });
  if (!write.length) return undefined;
  return { kind: 'update', table, write, key: k.key, shape: `U${write.join(',')}`, keyText: k.keyText };
}

export function deleteSlot(
  table: TargetTable,
  oldKind: 'K' | 'O',
  oldRow: PayloadRow,
): GroupSlot | undefined {
  if (oldKind !== 'K') return undefined;
  const k = keyOf(table, oldRow);
  return k && { kind: 'delete', table, write: [], key: k.key, shape: 'D', keyText: k.keyText };
}

/** Rows of one shape within a group: one statement. */
interface ShapeRows {
  readonly slot: GroupSlot;
  /** Columns of each VALUES row: written ones and key ones, in relation order. */
  readonly cols: readonly number[];
  readonly tuples: string[];
}

/**
 * Consecutive changes of one kind on one table with distinct keys. Updates of distinct keys
 * commute (see updatesCommute), so a group holds one statement per shape: a batch where a third
 * of the rows rewrite a TOASTed column is two statements, not one per change of shape.
 */
export class RowGroup {
  private readonly shapes = new Map<string, ShapeRows>();
  private readonly keys = new Set<string>();
  private rows = 0;
  /** SQL text of the rows so far, counted by the caller towards its flush threshold. */
  bytes = 0;

  constructor(
    readonly relationId: number,
    private readonly first: GroupSlot,
  ) {}

  get table(): TargetTable {
    return this.first.table;
  }

  accepts(relationId: number, slot: GroupSlot): boolean {
    return (
      relationId === this.relationId &&
      slot.table === this.first.table &&
      slot.kind === this.first.kind &&
      this.rows < GROUP_ROWS_MAX &&
      (slot.keyText === undefined || !this.keys.has(slot.keyText))
    );
  }

  /** Adds a row; returns the SQL text length it added. */
  add(slot: GroupSlot, row: PayloadRow): number {
    if (slot.keyText !== undefined) this.keys.add(slot.keyText);
    let s = this.shapes.get(slot.shape);
    if (!s) {
      const cols = [...new Set([...slot.write, ...slot.key])].sort((a, b) => a - b);
      s = { slot, cols, tuples: [] };
      this.shapes.set(slot.shape, s);
    }
    const t = slot.table;
    const first = s.tuples.length === 0 || slot.kind === 'insert';
    const values = s.cols.map((i) =>
      first ? typed(row[i] as PayloadValue, t, i) : plain(row[i] as PayloadValue, t, i),
    );
    const tuple = `(${values.join(',')})`;
    s.tuples.push(tuple);
    this.rows++;
    this.bytes += tuple.length + 1;
    return tuple.length + 1;
  }

  /** The statements, each with how many rows it must change (undefined: not checked, INSERT). */
  statements(): Array<{ sql: string; rows: number | undefined }> {
    return [...this.shapes.values()].map((s) => statement(s));
  }
}

function statement({ slot, cols, tuples }: ShapeRows): { sql: string; rows: number | undefined } {
  const t = slot.table;
  const rows = tuples.join(',');
  const name = (i: number): string => t.columns[i]?.sql ?? '';
  const vcols = `${V}(${cols.map((i) => `c${i}`).join(', ')})`;
  const on = slot.key.map((i) => `${T}.${name(i)} = ${V}.c${i}`).join(' AND ');
  switch (slot.kind) {
    case 'insert':
      return { sql: `${t.insertHead()} ${rows}`, rows: undefined };
    case 'update': {
      const set = slot.write.map((i) => `${name(i)} = ${V}.c${i}`).join(', ');
      return {
        sql: `UPDATE ${t.target} AS ${T} SET ${set} FROM (VALUES ${rows}) AS ${vcols} WHERE ${on}`,
        rows: tuples.length,
      };
    }
    case 'delete':
      return {
        sql: `DELETE FROM ${t.target} AS ${T} USING (VALUES ${rows}) AS ${vcols} WHERE ${on}`,
        rows: tuples.length,
      };
  }
}

/** A value with its cast, NULL included: the first row is what gives each VALUES column its type. */
function typed(v: PayloadValue, t: TargetTable, i: number): string {
  return v === null ? `NULL::${t.columns[i]?.type ?? 'text'}` : t.value(v, i);
}

/** A value without a cast: the group's first row gave the column its type. */
function plain(v: PayloadValue, t: TargetTable, i: number): string {
  if (v === null) return 'NULL';
  return typeof v === 'string' ? lit(v) : t.value(v, i);
}
