/** The PostgreSQL driver module: what `src/driver/registry.ts` loads for postgres:// URLs. */
import type { DriverModule } from '../../src/driver/driver-module.js';
import { parsePgUrl } from './internal/connection.js';
import { PostgresSource } from './source.js';
import { comparePositions } from './internal/position.js';
import { tableNames } from './names.js';
import { PostgresTarget } from './target.js';
import { scratch } from './scratch.js';
import { transactions } from './transactions.js';
import { COPY_FORMAT } from './snapshot.js';

export const driver: DriverModule = {
  kind: 'postgres',
  formatVersion: 1,
  capabilities: { snapshot: true, changeLog: true, restore: true },
  comparePositions,
  tableNames,
  openSource: async (url, opts) => new PostgresSource(parsePgUrl(url), opts.name),
  openTarget: async (url) => new PostgresTarget(parsePgUrl(url)),
  transactions,
  // level 5 (codec.ts tunes it): smaller than pg_dump -Fc on both benchmark datasets, and the
  // codec no longer sets the snapshot's pace as level 6 did (bench/README.md, "zstd parameters")
  snapshotCompression: 5,
  // COPY text: one row per line, a newline inside a value is written as a backslash and "n"
  rowFraming: (format) => (format === COPY_FORMAT ? 'lines' : undefined),
  scratch,
};

export { PostgresSource } from './source.js';
export { PostgresTarget } from './target.js';
export { COPY_FORMAT } from './snapshot.js';
export { SCHEMA_FORMAT } from './schema.js';
