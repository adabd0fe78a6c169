/**
 * How a database names its tables, for `--tables`. Only the driver knows: PostgreSQL has
 * `schema.table`, MySQL `database.table`, and a MongoDB collection name may itself contain dots
 * (`events.2026`). The core passes what the user typed to the driver and gets a predicate back;
 * it never splits a name.
 */
export interface TableNames {
  /**
   * A predicate over the table names this driver writes (`TableStream.table`,
   * `Transaction.tables`), true for the tables `wanted` names in the database's own syntax.
   * Throws a UsageError, one sentence naming the bad entry, for a name it cannot read.
   */
  matcher(wanted: readonly string[]): (table: string) => boolean;
  /**
   * Snapshot streams that a `--tables` restore loads whatever it selects, because the selected
   * tables cannot be restored consistently without them (MongoDB: the snapshot's change tail,
   * `$changes`). Never a table a user names. Optional: none when absent.
   */
  readonly partOfEverySelection?: (table: string) => boolean;
}
