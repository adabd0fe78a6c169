/**
 * `--tables` for SQL databases whose tables live in a container (a PostgreSQL schema, a MySQL
 * database) and whose identifiers are quoted with one character, doubled inside a quoted name.
 * For drivers to build their `TableNames` from; the core never calls it.
 *
 * Such a driver writes a table's name as `container.table`: the two names joined with a dot,
 * unquoted, spelled as the catalog spells them. What a user types is read as SQL reads it: an
 * unquoted dot separates the container from the table, and quotes keep a dot (or a quote) inside
 * one name: `public."events.2026"`. Names are compared exactly, without case folding, so
 * `Contacts` finds the table the catalog calls `Contacts`.
 *
 * - `table` (one name) matches that table in any container. A stored name is split at its first
 *   dot for this, so a table in a container whose own name holds a dot must be qualified.
 * - `container.table` matches exactly that table.
 */
import { UsageError } from '../util/errors.js';
import type { TableNames } from './table-names.js';

export interface QualifiedNameRules {
  /** The identifier quote: `"` (PostgreSQL) or a backtick (MySQL). */
  readonly quote: '"' | '`';
  /** What the container is called in messages: `schema`, `database`. */
  readonly container: string;
  /** A qualified name with a dot in the table's, quoted as users must, for messages. */
  readonly example: string;
}

export function qualifiedTableNames(rules: QualifiedNameRules): TableNames {
  return {
    matcher(wanted) {
      const tests = wanted.map((w) => {
        const parts = splitQualified(w, rules.quote);
        if (parts?.length === 1) {
          const [table] = parts;
          return (stored: string) => stored.slice(stored.indexOf('.') + 1) === table;
        }
        if (parts?.length === 2) {
          const full = parts.join('.');
          return (stored: string) => stored === full;
        }
        throw new UsageError(
          `--tables: ${JSON.stringify(w)} is not a table name; write table or ${rules.container}.table, and quote a name that contains a dot (${rules.example}).`,
        );
      });
      return (table) => tests.some((t) => t(table));
    },
  };
}

/**
 * `public."a.b"` -> `['public', 'a.b']`: the names of a dotted path, quotes removed; undefined for
 * an empty name, an unterminated quote, or a quote inside an unquoted name.
 */
export function splitQualified(text: string, quote: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = '';
    if (text[i] === quote) {
      let from = i + 1;
      for (;;) {
        const close = text.indexOf(quote, from);
        if (close < 0) return undefined;
        part += text.slice(from, close);
        if (text[close + 1] !== quote) {
          i = close + 1;
          break;
        }
        part += quote; // a doubled quote is one quote character of the name
        from = close + 2;
      }
    } else {
      const dot = text.indexOf('.', i);
      const end = dot < 0 ? text.length : dot;
      part = text.slice(i, end);
      if (part.includes(quote)) return undefined;
      i = end;
    }
    if (part === '') return undefined;
    parts.push(part);
    if (i === text.length) return parts;
    if (text[i] !== '.') return undefined; // `"a"b`: text after a closing quote
    i++;
  }
}
