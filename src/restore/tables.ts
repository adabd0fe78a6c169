import type { DriverModule } from '../driver/driver-module.js';

/**
 * `--tables a,b`: which of the table names the driver wrote are wanted; undefined for all of them.
 * Only the driver reads a name (`schema.table`, `database.table`, a collection name with dots).
 */
export function tableMatcher(
  driver: Pick<DriverModule, 'tableNames'>,
  wanted: readonly string[] | undefined,
): ((table: string) => boolean) | undefined {
  if (!wanted || wanted.length === 0) return undefined;
  return driver.tableNames.matcher(wanted);
}
