/** Small PostgreSQL helpers for the benchmark: one-shot queries, databases, the server clock, sizes. */
import pg from 'pg';

export async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export function dbUrl(serverUrl: string, db: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function createDb(serverUrl: string, db: string): Promise<string> {
  await query(serverUrl, `CREATE DATABASE ${pg.escapeIdentifier(db)}`);
  return dbUrl(serverUrl, db);
}

/** Drops a restored copy once it is judged, so a 1 GB run does not hold four copies at once. */
export async function dropDb(serverUrl: string, db: string): Promise<void> {
  await query(serverUrl, `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(db)} WITH (FORCE)`);
}

/** The server's clock as ISO 8601 UTC with microseconds, the form `restore --at` and `list` use. */
export async function serverNow(url: string): Promise<string> {
  const [row] = await query<{ t: string }>(
    url,
    `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS t`,
  );
  if (!row) throw new Error('the server returned no time');
  return row.t;
}

export interface DbSize {
  /** pg_database_size: everything, catalogs included. */
  readonly database: number;
  /** Heap + TOAST of the tables in `public` (pg_table_size). */
  readonly tables: number;
  /** Heap + TOAST + indexes of the tables in `public` (pg_total_relation_size). */
  readonly tablesWithIndexes: number;
}

export async function dbSize(url: string): Promise<DbSize> {
  const [row] = await query<{ d: string; t: string; ti: string }>(
    url,
    `SELECT pg_database_size(current_database()) AS d,
            coalesce(sum(pg_table_size(c.oid)), 0) AS t,
            coalesce(sum(pg_total_relation_size(c.oid)), 0) AS ti
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'm')`,
  );
  return { database: Number(row?.d ?? 0), tables: Number(row?.t ?? 0), tablesWithIndexes: Number(row?.ti ?? 0) };
}
