/** The PostgreSQL driver module: what `src/driver/registry.ts` loads for postgres:// URLs. */
import type { DriverModule } from '../../src/driver/driver-module.js';
import { parsePgUrl } from './internal/connection.js';
import { PostgresSource } from './source.js';
import { comparePositions } from './internal/position.js';
import { tableNames } from './names.js';
import { PostgresTarget } from './target.js';
import { transactions } from './transactions.js';

export const driver: DriverModule = {
  kind: 'postgres',
  formatVersion: 1,
  capabilities: { snapshot: true, changeLog: true, restore: true },
  comparePositions,
  tableNames,
  openSource: async (url, opts) => new PostgresSource(parsePgUrl(url), opts.name),
  openTarget: async (url) => new PostgresTarget(parsePgUrl(url)),
  transactions,
};

export { PostgresSource } from './source.js';
export { PostgresTarget } from './target.js';
export { COPY_FORMAT } from './snapshot.js';
export { SCHEMA_FORMAT } from './schema.js';
