/**
 * Scratch databases for `crm-backup drill` on PostgreSQL: CREATE DATABASE from template0 (an
 * empty database whatever template1 holds), DROP DATABASE … WITH (FORCE) so that a session left
 * behind by an interrupted drill does not keep it.
 */
import type { ScratchDatabases } from '../../src/driver/scratch.js';
import { urlWithDatabase } from '../../src/driver/scratch.js';
import { SourceError, throwIfAborted } from '../../src/util/errors.js';
import { connect, parsePgUrl, quoteIdent } from './internal/connection.js';

export const scratch: ScratchDatabases = {
  async create(url, name, opts) {
    throwIfAborted(opts?.signal);
    const server = parsePgUrl(url);
    const c = await connect(server);
    try {
      await c.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`).catch((err: unknown) => {
        const e = err as { code?: string; message?: string };
        const why =
          e.code === '42P04'
            ? 'a database of that name exists (the drill writes only into a database it creates)'
            : e.code === '42501'
              ? 'the role may not create databases (ALTER ROLE … CREATEDB)'
              : (e.message ?? String(err)).split('\n')[0];
        throw new SourceError(`Cannot create the scratch database "${name}" on ${server.display}: ${why}.`, {
          cause: err,
          source: server.display,
        });
      });
    } finally {
      await c.end().catch(() => {});
    }
    return urlWithDatabase(url, name);
  },

  async drop(url, name) {
    const server = parsePgUrl(url);
    const c = await connect(server);
    try {
      const version = Number((await c.query<{ v: string }>('SHOW server_version_num')).rows[0]?.v ?? 0);
      // FORCE (PostgreSQL 13+) ends sessions a killed drill left connected
      await c.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)}${version >= 130000 ? ' WITH (FORCE)' : ''}`);
    } finally {
      await c.end().catch(() => {});
    }
  },
};
