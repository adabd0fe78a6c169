/**
 * The identity of a MySQL/MariaDB database, whatever URL reaches it. MySQL has a server UUID
 * (@@server_uuid, made once per data directory). MariaDB has none, so its stand-in is the
 * server's host name with its data directory, hashed so that no path enters a manifest: the same
 * whichever address or port reaches the server, different for two servers on one machine. The
 * database name completes it. A snapshot records it in its meta (snapshot.ts) and the restore
 * target reports it (target.ts), so that the core can refuse to restore onto the source.
 */
import { createHash } from 'node:crypto';
import type { Session } from './connection.js';

/** `<flavour>:<server id>/<database>`, or undefined when the server does not tell. */
export async function databaseIdentity(s: Session, database: string): Promise<string | undefined> {
  try {
    const uuid = await s.value('SELECT @@server_uuid').catch(() => undefined);
    if (uuid) return `mysql:${uuid}/${database}`;
    const host = (await s.value('SELECT @@hostname')) ?? '';
    const dir = (await s.value('SELECT @@datadir')) ?? '';
    if (!host && !dir) return undefined;
    const id = createHash('sha256').update(`${host}\0${dir}`).digest('hex').slice(0, 32);
    return `mariadb:${id}/${database}`;
  } catch {
    return undefined;
  }
}
