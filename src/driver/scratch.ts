/**
 * Scratch databases for `crm-backup drill`: a database the drill creates on the server a URL
 * reaches, restores into, checks and drops. Only the driver knows how a database is created
 * (PostgreSQL and MySQL: CREATE DATABASE; MongoDB: a name is enough) and how its URL reads.
 */
export interface ScratchDatabases {
  /**
   * Creates an empty database `name` on the server `url` reaches (the URL's own database is only
   * where the driver connects to create it) and returns the URL of the new database. Refuses
   * (SourceError) when a database of that name exists: a drill never writes into one it did not create.
   */
  create(url: string, name: string, opts?: { signal?: AbortSignal }): Promise<string>;
  /** Drops the database `name` created by `create` on the server `url` reaches; nothing when it is gone. */
  drop(url: string, name: string): Promise<void>;
  /**
   * The name a table of the snapshot has once restored into the database `url` names, when it
   * differs (MySQL writes `database.table`, and the scratch database has another name); the
   * snapshot's `meta` says what the source was. Absent: table names do not depend on the database.
   */
  restoredName?(table: string, meta: Readonly<Record<string, string | number | boolean>>, url: string): string;
}

/**
 * `url` with its path (the database) replaced by `name`, userinfo, host and query kept. The URL
 * must be of the form scheme://authority[/path][?query]; `name` is percent-encoded.
 */
export function urlWithDatabase(url: string, name: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/is.exec(url);
  if (!m) return url;
  return `${m[1]}/${encodeURIComponent(name)}${m[3] ?? ''}`;
}

/** A name a drill gives its scratch database: `crmb_drill_<yyyymmddhhmmss>` (UTC). */
export function scratchName(now: Date): string {
  return `crmb_drill_${now.toISOString().replace(/[-:T]/g, '').slice(0, 14)}`;
}
