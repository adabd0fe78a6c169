/**
 * vitest global setup: starts one throwaway PostgreSQL and one MariaDB for the whole run
 * (or adopts CRMB_TEST_PG_URL / CRMB_TEST_MYSQL_URL), hands their URLs to the test files
 * through `inject('pgUrl' | 'mysqlUrl' | 'mongoUrl')`, and removes them afterwards.
 * Starting both takes about a second, so unit-only runs pay little for it.
 */
import type { TestProject } from 'vitest/node';
import { startMariadb, startPostgres } from './index.js';
import type { ThrowawayServer } from './server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
    mysqlUrl: string;
    /** Empty when no MongoDB is available; the MongoDB suite skips loudly. */
    mongoUrl: string;
  }
}

let servers: ThrowawayServer[] = [];

export const MONGO_SKIP_MESSAGE =
  'MongoDB integration suite skipped: CRMB_TEST_MONGODB_URL is not set and no MongoDB server can be started here.';

export async function setup(project: TestProject): Promise<void> {
  const started = await Promise.allSettled([startPostgres(), startMariadb()]);
  servers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await teardown();
    throw failed.reason;
  }
  const [pgServer, mysqlServer] = servers;
  project.provide('pgUrl', pgServer?.url ?? '');
  project.provide('mysqlUrl', mysqlServer?.url ?? '');
  const mongoUrl = process.env.CRMB_TEST_MONGODB_URL ?? '';
  if (!mongoUrl) console.log(MONGO_SKIP_MESSAGE);
  project.provide('mongoUrl', mongoUrl);
}

export async function teardown(): Promise<void> {
  const toStop = servers;
  servers = [];
  await Promise.all(toStop.map((s) => s.stop()));
}
