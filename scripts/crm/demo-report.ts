/**
 * What the demo prints, apart from running things: the shell lines that let a user repeat its
 * commands, the seed summary, and the verdict table. Pure functions, so they are unit tested.
 */
import type { TableChecksum } from './checksums.js';

/** `text` as one shell word: single-quoted unless it is plainly safe. */
export function shellQuote(text: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Shell lines that give another shell what the demo's commands run with: the repository, the
 * password (read from its file, so it is never printed again) and a `crm-backup` command.
 */
export function repeatLines(opts: {
  repo: string;
  passwordFile: string;
  tsx: string;
  bin: string;
}): string[] {
  return [
    `alias crm-backup=${shellQuote(`${shellQuote(opts.tsx)} ${shellQuote(opts.bin)}`)}`,
    `export CRM_BACKUP_REPO=${shellQuote(opts.repo)}`,
    `export CRM_BACKUP_PASSWORD="$(cat ${shellQuote(opts.passwordFile)})"`,
  ];
}

/**
 * What the seed made, counted as crm-backup and the verdict count (every table of the database):
 * `9263 rows in the 7 CRM tables; 9268 rows in all 9 tables, with knex's migration bookkeeping
 * (knex_migrations, knex_migrations_lock)`.
 */
export function describeSeed(crmTables: readonly string[], rows: Readonly<Record<string, number>>): string {
  const sum = (tables: readonly string[]): number => tables.reduce((n, t) => n + (rows[t] ?? 0), 0);
  const all = Object.keys(rows);
  const others = all.filter((t) => !crmTables.includes(t)).sort();
  const line = `${sum(crmTables)} rows in the ${crmTables.length} CRM tables`;
  if (others.length === 0) return line;
  return `${line}; ${sum(all)} rows in all ${all.length} tables, with knex's migration bookkeeping (${others.join(', ')})`;
}

export interface Verdict {
  /** The table lines, header first, columns aligned. */
  readonly lines: string[];
  /** The one-line conclusion. */
  readonly summary: string;
  readonly exact: boolean;
}

/**
 * Compares per-table checksums, `expected` (the source at the target time) against `got` (the
 * restored database): one aligned line per table of either, then a summary counting the same tables.
 */
export function verdict(
  expected: Readonly<Record<string, TableChecksum>>,
  got: Readonly<Record<string, TableChecksum>>,
): Verdict {
  const tables = [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
  const rows = tables.map((t) => {
    const a = expected[t];
    const b = got[t];
    const same = a !== undefined && b !== undefined && a.rows === b.rows && a.md5 === b.md5;
    return {
      cells: [
        same ? 'same' : 'DIFFERENT',
        t,
        a === undefined ? '-' : String(a.rows),
        b === undefined ? '-' : String(b.rows),
      ],
      same,
      rows: a?.rows ?? 0,
    };
  });
  const header = ['', 'table', 'source rows', 'restored rows'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r.cells[i]!.length)));
  // text columns left-aligned, counts right-aligned
  const format = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const differ = rows.filter((r) => !r.same);
  const totalRows = rows.reduce((n, r) => n + r.rows, 0);
  return {
    lines: [format(header), ...rows.map((r) => format(r.cells))],
    summary:
      differ.length === 0
        ? `All ${tables.length} tables restored exactly (${totalRows} rows).`
        : `${differ.length} of ${tables.length} tables differ: ${differ.map((r) => r.cells[1]).join(', ')}.`,
    exact: differ.length === 0,
  };
}
