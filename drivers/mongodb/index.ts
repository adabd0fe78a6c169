/** The MongoDB driver module: what `src/driver/registry.ts` loads for mongodb:// and mongodb+srv:// URLs. */
import type { DriverModule } from '../../src/driver/driver-module.js';
import { parseMongoUrl } from './internal/connection.js';
import { comparePositions } from './internal/position.js';
import { tableNames } from './names.js';
import { MongoSource } from './source.js';
import { MongoTarget } from './target.js';
import { scratch } from './scratch.js';
import { transactions } from './transactions.js';
import { LOAD_FORMAT } from './internal/load.js';

export const driver: DriverModule = {
  kind: 'mongodb',
  formatVersion: 1,
  capabilities: { snapshot: true, changeLog: true, restore: true },
  comparePositions,
  tableNames,
  openSource: async (url, opts) => new MongoSource(parseMongoUrl(url), opts.name),
  openTarget: async (url) => new MongoTarget(parseMongoUrl(url)),
  transactions,
  // raw BSON documents; the change tail's records are not the collections' documents
  rowFraming: (format) => (format === LOAD_FORMAT ? 'bson' : undefined),
  scratch,
};

export { MongoSource } from './source.js';
export { MongoTarget } from './target.js';
export { LOAD_FORMAT } from './internal/load.js';
export { SCHEMA_FORMAT } from './schema.js';
export { TAIL_FORMAT, TAIL_STREAM } from './snapshot.js';
