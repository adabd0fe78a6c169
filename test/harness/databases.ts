/**
 * Fresh databases on the shared servers, one per test file, so files run in parallel
 * without seeing each other's tables, slots or binlog noise.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2/promise';
import { startOwnPostgres } from './postgres-server.js';
import { startOwnMariadb } from './mariadb-server.js';
import type { StartOptions, ThrowawayServer } from './server.js';

export interface TestDatabase {
  /** URL of the new database (same server, same credentials). */
  readonly url: string;
  readonly name: string;
  /** Drops the database (and PostgreSQL replication slots that point into it). */
  drop(): Promise<void>;
}

/** The shared server URL handed over by the vitest global setup; only callable inside a vitest test. */
async function injected(key: 'pgUrl' | 'mysqlUrl'): Promise<string> {
  const { inject } = await import('vitest');
  const url = inject(key);
  if (!url)
    throw new Error(
      `the vitest global setup provided no ${key}; run the tests through vitest with test/harness/global-setup.ts.`,
    );
  return url;
}

function uniqueName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40);
  return `${clean}_${randomBytes(4).toString('hex')}`;
}

function withDatabase(serverUrl: string, name: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates a uniquely named database on the shared PostgreSQL server (or on `serverUrl`). */
export async function createPgDatabase(prefix: string, serverUrl?: string): Promise<TestDatabase> {
  const server = serverUrl ?? (await injected('pgUrl'));
  const name = uniqueName(prefix);
  await withPg(server, (c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    url: withDatabase(server, name),
    name,
    drop: () =>
      withPg(server, async (c) => {
        // slots pin the database: stop their walsenders, then drop them
        await c.query(
          'SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL',
          [name],
        );
        await c
          .query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1', [
            name,
          ])
          .catch(() => undefined);
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }),
  };
}

/** Creates a uniquely named database on the shared MariaDB/MySQL server (or on `serverUrl`). */
export async function createMysqlDatabase(prefix: string, serverUrl?: string): Promise<TestDatabase> {
  const server = serverUrl ?? (await injected('mysqlUrl'));
  const name = uniqueName(prefix);
  await withMysql(server, (c) =>
    c.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`),
  );
  return {
    url: withDatabase(server, name),
    name,
    drop: async () => {
      await withMysql(server, (c) => c.query(`DROP DATABASE IF EXISTS \`${name}\``));
    },
  };
}

/** A PostgreSQL server of the test's own, for tests that restart or kill it; call `stop()` in afterAll. */
export function pgStartOwnServer(opts?: StartOptions): Promise<ThrowawayServer> {
  return startOwnPostgres(opts);
}

/** A MariaDB server of the test's own, for tests that restart or kill it; call `stop()` in afterAll. */
export function mysqlStartOwnServer(opts?: StartOptions): Promise<ThrowawayServer> {
  return startOwnMariadb(opts);
}

/** One statement (or a multi-statement script without parameters) on a short-lived connection. */
export function pgQuery(url: string, text: string, params?: unknown[]): Promise<pg.QueryResult> {
  return withPg(url, (c) => c.query(text, params));
}

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function withMysql<T>(url: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ uri: url });
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}
