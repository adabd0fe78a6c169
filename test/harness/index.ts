/**
 * Test harness: throwaway PostgreSQL and MariaDB servers, per-test databases.
 * Usable from vitest and from plain scripts (demo, benchmarks).
 */
export type { ThrowawayServer, StartOptions } from './server.js';
export { startPostgres, startOwnPostgres, pgBinDir } from './postgres-server.js';
export { startMariadb, startOwnMariadb, mariadbBinDir } from './mariadb-server.js';
export {
  createPgDatabase,
  pgQuery,
  createMysqlDatabase,
  pgStartOwnServer,
  mysqlStartOwnServer,
  type TestDatabase,
} from './databases.js';
