/**
 * The identity of a PostgreSQL database, whatever URL reaches it: the cluster's system identifier
 * (pg_control_system(), set by initdb, the same on every host name, port and address of the
 * server) and the database's oid in it. A snapshot records it in its meta (snapshot.ts) and the
 * restore target reports it (target.ts), so that the core can refuse to restore onto the source.
 * A physical copy of the cluster (a standby, a clone from a base backup) shares both: it is the
 * source as far as this check goes, which is the safe side.
 */
import type pg from 'pg';

/** `<system identifier>/<database oid>`, or undefined when the server does not tell this role. */
export async function databaseIdentity(c: pg.Client): Promise<string | undefined> {
  try {
    const { rows } = await c.query<{ id: string }>(
      `SELECT (SELECT system_identifier FROM pg_catalog.pg_control_system())::text || '/' ||
              (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())::text AS id`,
    );
    return rows[0]?.id ?? undefined;
  } catch {
    // pg_control_system() revoked (some managed services): the core compares addresses instead
    return undefined;
  }
}
