/** The MySQL/MariaDB driver module: what `src/driver/registry.ts` loads for mysql:// and mariadb:// URLs. */
import type { DriverModule } from '../../src/driver/driver-module.js';
import { parseMysqlUrl } from './internal/connection.js';
import { comparePositions } from './internal/position.js';
import { RowsSplitter, ROWS_FORMAT } from './internal/rows-format.js';
import { tableNames } from './names.js';
import { MysqlSource } from './source.js';
import { MysqlTarget } from './target.js';
import { scratch } from './scratch.js';
import { transactions } from './transactions.js';
import { LOAD_FORMAT } from './internal/load.js';

export const driver: DriverModule = {
  kind: 'mysql',
  // 2: snapshots hold table data as `mysql-rows/1` (protocol row packets), which 1 cannot load
  formatVersion: 2,
  capabilities: { snapshot: true, changeLog: true, restore: true },
  comparePositions,
  tableNames,
  openSource: async (url, opts) => new MysqlSource(parseMysqlUrl(url), opts.name),
  openTarget: async (url) => new MysqlTarget(parseMysqlUrl(url)),
  transactions,
  // mysql-rows/1 (a snapshot's streams) rows delimited by their field count; older snapshots' LOAD
  // DATA text one row per line, a newline inside a value being written as a backslash and "n"
  rowFraming: (format) =>
    format === ROWS_FORMAT ? { splitter: () => new RowsSplitter() } : format === LOAD_FORMAT ? 'lines' : undefined,
  scratch,
  // as the `mariadb-dump | zstd -3` its snapshot is measured against: 6 doubled the snapshot time
  snapshotCompression: 3,
};

export { MysqlSource } from './source.js';
export { MysqlTarget } from './target.js';
export { LOAD_FORMAT } from './internal/load.js';
export { ROWS_FORMAT } from './internal/rows-format.js';
export { SCHEMA_FORMAT } from './schema.js';
