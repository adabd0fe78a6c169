/**
 * How `crm-backup log` prints a stored transaction and its row changes, for people (one line
 * each, the reference first so it can be copied) and for scripts (JSON).
 */
import type { ColumnChange, RowChange, TableChangeCounts } from '../driver/transactions.js';
import type { TransactionEntry } from '../restore/log.js';

/** Longest value printed in a human line; JSON carries values whole. */
const VALUE_CHARS = 60;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** `public.contacts: 312 updates` / `public.deals: 1 insert, 2 deletes, truncated`. */
export function formatCounts(t: TableChangeCounts): string {
  const parts = [
    t.inserts ? plural(t.inserts, 'insert') : '',
    t.updates ? plural(t.updates, 'update') : '',
    t.deletes ? plural(t.deletes, 'delete') : '',
    t.truncates ? 'truncated' : '',
  ].filter(Boolean);
  return `${t.table}: ${parts.join(', ') || 'no rows'}`;
}

/** One line: reference, commit time, changes per table, statements. */
export function formatEntry(e: TransactionEntry): string {
  const what = [...e.tables.map(formatCounts), ...e.statements.map((s) => `statement: ${s}`)];
  if (what.length === 0) what.push(e.internal ? "crm-backup's own (no row changes)" : 'no row changes');
  return `${e.ref}  ${e.commitTime}  ${what.join('; ')}`;
}

export function entryJson(e: TransactionEntry): Record<string, unknown> {
  return {
    ref: e.ref,
    position: e.position,
    commitTime: e.commitTime,
    commitMicros: e.commitMicros.toString(),
    changes: e.changes,
    tables: e.tables,
    statements: e.statements,
    parts: e.parts,
    ...(e.internal ? { internal: true } : {}),
  };
}

function value(v: string | null | undefined): string {
  if (v === undefined) return '(not in the log)';
  if (v === null) return 'NULL';
  const cut = v.length > VALUE_CHARS ? `${v.slice(0, VALUE_CHARS - 1)}…` : v;
  return `'${cut.replace(/'/g, "''")}'`;
}

/** `name: old -> new` when the log holds the old value, `name = new` when it holds only the new one. */
function column(c: ColumnChange): string {
  return 'old' in c ? `${c.name}: ${value(c.old)} -> ${value(c.new)}` : `${c.name} = ${value(c.new)}`;
}

/** `UPDATE public.contacts id=17: owner_id: 5 -> NULL` (old known) or `… owner_id = NULL` (new only). */
export function formatChange(c: RowChange): string {
  if (c.op === 'statement') return `STATEMENT ${c.text ?? ''}`;
  if (c.op === 'truncate') return `TRUNCATE ${c.table}${c.text ? ` ${c.text}` : ''}`;
  const key = Object.entries(c.key)
    .map(([k, v]) => `${k}=${v === null ? 'NULL' : v}`)
    .join(',');
  const head = `${c.op.toUpperCase()} ${c.table}${key ? ` ${key}` : ''}`;
  if (c.columns.length === 0) return head;
  // a deleted row has only old values
  const cols = c.columns.map((col) => (c.op === 'delete' ? `${col.name} = ${value(col.old)}` : column(col)));
  return `${head}: ${cols.join(', ')}`;
}
