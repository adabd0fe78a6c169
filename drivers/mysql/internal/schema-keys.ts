/**
 * Secondary indexes built after the load instead of with the table: loading 200k rows into a
 * table with three secondary keys took 4.6-5.2 s with the keys in place and 3.6-3.8 s loading
 * bare and adding them in one ALTER TABLE afterwards (MariaDB 10.11, LOAD DATA, unique_checks
 * off), because a sorted build beats row-by-row inserts into every index.
 *
 * Only plain `KEY`s are deferred. PRIMARY and UNIQUE keys stay (the load relies on them, and
 * InnoDB clusters rows by the primary key); FULLTEXT and SPATIAL stay (adding them later rebuilds
 * the table); a key a foreign key may need stays, or InnoDB would create one of its own for the
 * constraint. The server prints plain keys in creation order, so only the keys after the last one
 * that stays are deferred: SHOW CREATE TABLE after the restore is the source's, key order included.
 */

export interface SplitTable {
  /** CREATE TABLE without the deferred keys. */
  readonly create: string;
  /** The deferred key definitions, in order, for `ALTER TABLE … ADD …`. */
  readonly keys: readonly string[];
}

const PLAIN_KEY = /^KEY `(?:[^`]|``)*` \((.*)\)/;
const FOREIGN_KEY = /FOREIGN KEY \(([^)]*)\)/;

/** The first column of a key or foreign key column list: `` `a`(10),`b` `` -> `a`. */
function firstColumn(list: string): string {
  return /^`((?:[^`]|``)*)`/.exec(list.trim())?.[1] ?? '';
}

/** Splits a `SHOW CREATE TABLE` statement; anything it cannot read whole is left as it is. */
export function splitSecondaryKeys(create: string): SplitTable {
  const lines = create.split('\n');
  const close = lines.findIndex((l, i) => i > 0 && l.startsWith(')'));
  if (!/^CREATE TABLE /.test(lines[0] ?? '') || close < 2) return { create, keys: [] };
  const body = lines.slice(1, close).map((l) => l.trim());
  // every definition on a line of its own, each but the last ending with a comma
  if (body.some((l, i) => i < body.length - 1 !== l.endsWith(','))) return { create, keys: [] };
  const defs = body.map((l) => l.replace(/,$/, ''));
  const fkFirst = new Set(
    defs.map((d) => FOREIGN_KEY.exec(d)?.[1]).flatMap((cols) => (cols ? [firstColumn(cols)] : [])),
  );
  const plain = defs.map((d) => PLAIN_KEY.exec(d));
  let lastKept = -1;
  plain.forEach((m, i) => {
    if (m && fkFirst.has(firstColumn(m[1] ?? ''))) lastKept = i;
  });
  const deferred = new Set(plain.flatMap((m, i) => (m && i > lastKept ? [i] : [])));
  if (deferred.size === 0) return { create, keys: [] };
  const kept = defs.filter((_, i) => !deferred.has(i));
  return {
    create: [lines[0], kept.map((d) => `  ${d}`).join(',\n'), ...lines.slice(close)].join('\n'),
    keys: defs.filter((_, i) => deferred.has(i)),
  };
}
