/**
 * Scratch databases for `crm-backup drill` on MySQL/MariaDB: CREATE DATABASE on the server the
 * URL reaches. Table names carry the database (`database.table`), so a table of the snapshot has
 * another name once restored into the scratch database.
 */
import type { ScratchDatabases } from '../../src/driver/scratch.js';
import { urlWithDatabase } from '../../src/driver/scratch.js';
import { SourceError, throwIfAborted } from '../../src/util/errors.js';
import { connect, connectionError, firstLine, parseMysqlUrl, quoteIdent } from './internal/connection.js';

export const scratch: ScratchDatabases = {
  async create(url, name, opts) {
    throwIfAborted(opts?.signal);
    const server = parseMysqlUrl(url);
    const s = await connect(server).catch((err: unknown) => {
      throw connectionError(err, server);
    });
    try {
      await s.exec(`CREATE DATABASE ${quoteIdent(name)}`).catch((err: unknown) => {
        const code = (err as { code?: string }).code;
        const why =
          code === 'ER_DB_CREATE_EXISTS'
            ? 'a database of that name exists (the drill writes only into a database it creates)'
            : firstLine(err);
        throw new SourceError(`Cannot create the scratch database "${name}" on ${server.display}: ${why}.`, {
          cause: err,
          source: server.display,
        });
      });
    } finally {
      await s.end().catch(() => {});
    }
    return urlWithDatabase(url, name);
  },

  async drop(url, name) {
    const server = parseMysqlUrl(url);
    const s = await connect(server).catch((err: unknown) => {
      throw connectionError(err, server);
    });
    try {
      await s.exec(`DROP DATABASE IF EXISTS ${quoteIdent(name)}`);
    } finally {
      await s.end().catch(() => {});
    }
  },

  // `crm.contacts` of the snapshot is `crmb_drill_….contacts` in the scratch database
  restoredName(table, meta, url) {
    const from = String(meta['database'] ?? '');
    const rest = from && table.startsWith(`${from}.`) ? table.slice(from.length + 1) : table;
    return `${parseMysqlUrl(url).database}.${rest}`;
  },
};
