/**
 * `--tables` for MySQL/MariaDB, ahead of the driver itself. The driver is to write a table's name
 * as `database.table`, unquoted, as information_schema spells them (the binlog's row events carry
 * both). A source is one database, so users mostly type a bare `contacts`; `crm.contacts` is exact,
 * and backticks keep a dot inside one name: `` crm.`events.2026` ``.
 */
import { qualifiedTableNames } from '../../src/driver/qualified-names.js';
import type { TableNames } from '../../src/driver/table-names.js';

export const tableNames: TableNames = qualifiedTableNames({
  quote: '`',
  container: 'database',
  example: 'crm.`events.2026`',
});
