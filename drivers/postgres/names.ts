/**
 * `--tables` for PostgreSQL. This driver writes a table's name (`TableStream.table`,
 * `Transaction.tables`) as `schema.table`: pg_namespace.nspname and pg_class.relname joined with a
 * dot, unquoted, in the catalog's case (`public.contacts`, `public.events.2026` for a table named
 * `events.2026`). Users type names as SQL reads them: `contacts` in any schema,
 * `public.contacts` exactly, `public."events.2026"` or `"events.2026"` for a name with a dot.
 */
import { qualifiedTableNames } from '../../src/driver/qualified-names.js';
import type { TableNames } from '../../src/driver/table-names.js';

export const tableNames: TableNames = qualifiedTableNames({
  quote: '"',
  container: 'schema',
  example: 'public."events.2026"',
});
