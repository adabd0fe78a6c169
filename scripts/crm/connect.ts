/** Connections for the CRM scripts: a knex instance from a URL, or the caller's own. */
import knexFactory, { type Knex } from 'knex';
import { crmKnexConfig, knexClientFor } from '../../migrations/knex-config.js';

export type Dialect = 'pg' | 'mysql';

export function dialectOf(knex: Knex): Dialect {
  const client = String(knex.client.config.client);
  return client === 'pg' || client === 'postgres' || client === 'postgresql' ? 'pg' : 'mysql';
}

export function dialectOfUrl(url: string): Dialect {
  return knexClientFor(url) === 'pg' ? 'pg' : 'mysql';
}

/**
 * Runs `fn` with a knex instance: the given one, or a new one for a URL that is destroyed
 * afterwards (so a script never hangs on an open pool).
 */
export async function withKnex<T>(knexOrUrl: Knex | string, fn: (knex: Knex) => Promise<T>, poolMax = 4): Promise<T> {
  if (typeof knexOrUrl !== 'string') return fn(knexOrUrl);
  const knex = knexFactory(crmKnexConfig(knexOrUrl, { pool: { min: 0, max: poolMax } }));
  try {
    return await fn(knex);
  } finally {
    await knex.destroy();
  }
}

/** Applies all CRM migrations (idempotent). */
export async function migrateCrm(knexOrUrl: Knex | string): Promise<void> {
  await withKnex(knexOrUrl, async (knex) => {
    await knex.migrate.latest();
  });
}
