/**
 * Scratch databases for `crm-backup drill` on MongoDB: a database exists once something is
 * written to it, so creating one is choosing a name no database has; dropping is dropDatabase.
 * The URL's database is also where a user authenticates when the URL names no authSource, so the
 * scratch URL keeps the original one as authSource.
 */
import type { ScratchDatabases } from '../../src/driver/scratch.js';
import { urlWithDatabase } from '../../src/driver/scratch.js';
import { SourceError, throwIfAborted } from '../../src/util/errors.js';
import { connect, mongoError, parseMongoUrl } from './internal/connection.js';

export const scratch: ScratchDatabases = {
  async create(url, name, opts) {
    throwIfAborted(opts?.signal);
    const server = parseMongoUrl(url);
    const client = await connect(server);
    try {
      const { databases } = (await client.db('admin').command({ listDatabases: 1, nameOnly: true })) as {
        databases: Array<{ name: string }>;
      };
      if (databases.some((d) => d.name === name))
        throw new SourceError(
          `Cannot create the scratch database "${name}" on ${server.display}: a database of that name exists (the drill writes only into a database it creates).`,
          { source: server.display },
        );
    } catch (err) {
      throw mongoError(err, server, 'Cannot list the databases of');
    } finally {
      await client.close().catch(() => {});
    }
    return scratchUrl(url, name);
  },

  async drop(url, name) {
    const server = parseMongoUrl(url);
    const client = await connect(server);
    try {
      await client.db(name).dropDatabase();
    } catch (err) {
      throw mongoError(err, server, 'Cannot drop the scratch database on');
    } finally {
      await client.close().catch(() => {});
    }
  },
};

/** The URL of database `name`, authenticating where the given URL did. */
export function scratchUrl(url: string, name: string): string {
  const out = urlWithDatabase(url, name);
  const hasUser = /^[a-z+]+:\/\/[^/?#]*@/i.test(url);
  if (!hasUser || /[?&]authSource=/i.test(url)) return out;
  const authDb = parseMongoUrl(url).database;
  const source = authDb && authDb !== 'default' ? authDb : 'admin';
  return `${out}${out.includes('?') ? '&' : '?'}authSource=${encodeURIComponent(source)}`;
}
