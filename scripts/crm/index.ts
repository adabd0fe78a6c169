/** Reference CRM data tools: schema migration, seed, workload, checksums, sizes. */
export { migrateCrm, withKnex, dialectOf, dialectOfUrl, type Dialect } from './connect.js';
export { seedCrm, type SeedOptions, type SeedResult } from './seed.js';
export { rowCounts, ROWS_AT_SCALE_1 } from './generate.js';
export { runWorkload, DEFAULT_MIX, WORKLOAD_OPS, type WorkloadOp, type WorkloadOptions, type WorkloadResult } from './workload.js';
export { tableChecksums, pgTableChecksums, mysqlTableChecksums, type TableChecksum, type ChecksumOptions } from './checksums.js';
export { tableBytes, totalBytes } from './size.js';
export { logicalSchema, type LogicalTable, type LogicalColumn } from './logical-schema.js';
export { crmKnexConfig, CRM_TABLES, type CrmTable } from '../../migrations/knex-config.js';
export { seedShapes, type ShapesSeedOptions, type ShapesSeedResult } from './shapes/seed.js';
export { SHAPES_TABLES, ACTIVITY_PARTITIONS, type ShapesTable } from './shapes/schema.js';
export { shapesRowCounts, SHAPES_ROWS_AT_SCALE_1 } from './shapes/generate.js';
