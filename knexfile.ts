/**
 * knex CLI / `crm-backup migrate --knexfile knexfile.ts` entry for the reference CRM schema.
 * The database comes from CRMB_DATABASE_URL (or DATABASE_URL); knex connects lazily, so
 * loading this file never touches a server.
 */
import { crmKnexConfig } from './migrations/knex-config.js';

const url = process.env.CRMB_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export default crmKnexConfig(url);
