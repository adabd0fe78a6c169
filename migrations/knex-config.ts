/**
 * Knex configuration for the reference CRM schema, for both PostgreSQL and MySQL/MariaDB.
 * The migration list is imported statically (not discovered by scanning a folder), so it
 * works the same under tsx, vitest and compiled JavaScript, where knex's own `import()` of
 * a `.ts` file would fail.
 */
import type { Knex } from 'knex';
import * as m1 from './crm/20250101000001_users_accounts.js';
import * as m2 from './crm/20250101000002_contacts_deals.js';
import * as m3 from './crm/20250101000003_activities_notes.js';
import * as m4 from './crm/20250101000004_email_events.js';

interface Migration {
  readonly name: string;
  readonly module: Knex.Migration;
}

/** In order; names are what knex records in `knex_migrations`. */
export const CRM_MIGRATIONS: readonly Migration[] = [
  { name: '20250101000001_users_accounts', module: m1 },
  { name: '20250101000002_contacts_deals', module: m2 },
  { name: '20250101000003_activities_notes', module: m3 },
  { name: '20250101000004_email_events', module: m4 },
];

/** The tables the CRM schema creates, parents before children (seed and truncate order). */
export const CRM_TABLES = ['users', 'accounts', 'contacts', 'deals', 'activities', 'notes', 'email_events'] as const;
export type CrmTable = (typeof CRM_TABLES)[number];

export class CrmMigrationSource implements Knex.MigrationSource<Migration> {
  getMigrations(): Promise<Migration[]> {
    return Promise.resolve([...CRM_MIGRATIONS]);
  }
  getMigrationName(m: Migration): string {
    return m.name;
  }
  getMigration(m: Migration): Promise<Knex.Migration> {
    return Promise.resolve(m.module);
  }
}

interface SessionConn {
  query(sql: string, cb: (err: Error | null) => void): void;
}

/** `pg` for postgres:// / postgresql://, `mysql2` for mysql:// / mariadb://; anything else is a usage error. */
export function knexClientFor(url: string): 'pg' | 'mysql2' {
  const scheme = url.slice(0, url.indexOf(':')).toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') return 'pg';
  if (scheme === 'mysql' || scheme === 'mariadb') return 'mysql2';
  throw new Error(`unsupported URL scheme "${scheme}:"; the CRM schema needs postgres:// or mysql:// (mariadb://).`);
}

/** Knex config for `url` with the CRM migrations; times are UTC on both dialects. */
export function crmKnexConfig(url: string, opts?: { pool?: { min: number; max: number } }): Knex.Config {
  const client = knexClientFor(url);
  const connection: Knex.StaticConnectionConfig | string =
    client === 'pg'
      ? url
      : {
          uri: url.replace(/^mariadb:/i, 'mysql:'),
          timezone: 'Z',
          charset: 'utf8mb4',
          supportBigNumbers: true,
          bigNumberStrings: true,
          dateStrings: false,
          multipleStatements: false,
        } as unknown as Knex.MySql2ConnectionConfig;
  return {
    client,
    connection,
    pool: {
      ...(opts?.pool ?? { min: 0, max: 4 }),
      // TIMESTAMP columns convert through the session zone; pin it so values never shift with the server's
      afterCreate: (conn: SessionConn, done: (err: Error | null, conn: SessionConn) => void) => {
        const sql = client === 'pg' ? "SET TIME ZONE 'UTC'" : "SET time_zone = '+00:00'";
        conn.query(sql, (err: Error | null) => done(err, conn));
      },
    },
    migrations: { migrationSource: new CrmMigrationSource(), tableName: 'knex_migrations' },
  };
}
