/**
 * Small MySQL/MariaDB helpers for the benchmark: one-shot queries, databases, the server clock,
 * sizes, and the connection arguments the native command-line tools take.
 */
import mysql from 'mysql2/promise';

/** Where the bench's closing commit goes (see mysql-db.ts); the checksums leave it out. */
export const TICK_TABLE = 'crmb_bench_tick';

export const quoteId = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

export async function myQuery<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = await mysql.createConnection({ uri: url, timezone: 'Z' });
  try {
    const [rows] = await c.query(sql, params);
    return rows as T[];
  } finally {
    await c.end();
  }
}

export function myDbUrl(serverUrl: string, db: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

/** A new empty database in the charset the harness gives its own (`utf8mb4`); returns its URL. */
export async function myCreateDb(serverUrl: string, db: string): Promise<string> {
  await myQuery(serverUrl, `DROP DATABASE IF EXISTS ${quoteId(db)}`);
  await myQuery(serverUrl, `CREATE DATABASE ${quoteId(db)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  return myDbUrl(serverUrl, db);
}

/** Drops a restored copy once it is judged, so a 1 GB run does not hold four copies at once. */
export async function myDropDb(serverUrl: string, db: string): Promise<void> {
  await myQuery(serverUrl, `DROP DATABASE IF EXISTS ${quoteId(db)}`);
}

/** The server's clock as ISO 8601 UTC with microseconds, the form `restore --at` and `list` use. */
export async function myServerNow(url: string): Promise<string> {
  const [row] = await myQuery<{ t: string }>(url, `SELECT DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ') AS t`);
  if (!row) throw new Error('the server returned no time');
  return row.t;
}

export interface MyDbSize {
  /** InnoDB DATA_LENGTH of the database's tables: the clustered indexes, i.e. the rows. */
  readonly data: number;
  /** INDEX_LENGTH: the secondary indexes. */
  readonly indexes: number;
}

/**
 * Table sizes from information_schema. With `analyze`, every table is analysed first: InnoDB's
 * figures are estimates that lag behind a bulk load until then (ANALYZE waits for writers' table
 * locks, so a heartbeat during the seed reads the estimates as they are).
 */
export async function myDbSize(url: string, analyze = false): Promise<MyDbSize> {
  const c = await mysql.createConnection({ uri: url });
  try {
    if (analyze) {
      const [tables] = await c.query(`SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`);
      for (const { t } of tables as Array<{ t: string }>) await c.query(`ANALYZE TABLE ${quoteId(t)}`);
    }
    const [rows] = await c.query(
      `SELECT COALESCE(SUM(DATA_LENGTH), 0) AS d, COALESCE(SUM(INDEX_LENGTH), 0) AS i FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()`,
    );
    const row = (rows as Array<{ d: string | number; i: string | number }>)[0];
    return { data: Number(row?.d ?? 0), indexes: Number(row?.i ?? 0) };
  } finally {
    await c.end();
  }
}

/**
 * Writes every dirty InnoDB page to disk and waits until there are (almost) none, like the
 * PostgreSQL bench's CHECKPOINT: otherwise the page flushing the seed left behind would slow
 * whichever tool reads first, for reasons not its own.
 */
export async function myFlushDirtyPages(url: string, timeoutMs: number): Promise<number> {
  const [before] = await myQuery<{ v: number }>(url, 'SELECT @@GLOBAL.innodb_max_dirty_pages_pct AS v');
  await myQuery(url, 'SET GLOBAL innodb_max_dirty_pages_pct = 0');
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const [row] = await myQuery<{ n: string }>(url, `SELECT VARIABLE_VALUE AS n FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_BUFFER_POOL_PAGES_DIRTY'`);
      const dirty = Number(row?.n ?? 0);
      if (dirty < 100 || Date.now() > deadline) return dirty;
      await new Promise((r) => setTimeout(r, 250)); // polling a condition, not a fixed wait
    }
  } finally {
    await myQuery(url, `SET GLOBAL innodb_max_dirty_pages_pct = ${Number(before?.v ?? 90)}`);
  }
}

/** Connection flags for mariadb, mariadb-dump, mydumper and myloader, and the password (if any) in the environment. */
export interface NativeConn {
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

export function nativeConn(url: string): NativeConn {
  const u = new URL(url);
  const args = ['-h', u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', '-P', u.port || '3306', '-u', decodeURIComponent(u.username || 'root')];
  // never on a command line, where ps shows it to everyone
  const env = u.password ? { ...process.env, MYSQL_PWD: decodeURIComponent(u.password) } : { ...process.env };
  return { args, env };
}
