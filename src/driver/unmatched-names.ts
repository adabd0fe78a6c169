/**
 * A name given to --tables or --schemas that selects nothing is a mistake to refuse, never a
 * filter to apply: a typo in a nightly job would otherwise store empty backups, or a restore
 * would quietly leave a table out. The driver reads the names; the core refuses, for every driver.
 */
import type { TableNames } from './table-names.js';

export interface NameGroup {
  /** The option the names came from, e.g. `--tables`. */
  readonly flag: string;
  readonly names: readonly string[];
}

/** The names in `wanted` that select none of `tables`, each read on its own by the driver. */
export function namesMatchingNone(
  names: TableNames,
  wanted: readonly string[],
  tables: Iterable<string>,
): string[] {
  const all = [...tables];
  return wanted.filter((w) => !all.some(names.matcher([w])));
}

/**
 * `--tables "nosuch", "ordres" and --schemas "x" match` (or `… matches` for a single name): the
 * start of the sentence refusing them; undefined when no group has a name.
 */
export function unmatchedPhrase(groups: readonly NameGroup[]): string | undefined {
  const given = groups.filter((g) => g.names.length > 0);
  if (given.length === 0) return undefined;
  const count = given.reduce((n, g) => n + g.names.length, 0);
  const parts = given.map((g) => `${g.flag} ${g.names.map((n) => JSON.stringify(n)).join(', ')}`);
  const listed = parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}` : parts[0]!;
  return `${listed} ${count === 1 ? 'matches' : 'match'}`;
}
