/**
 * Connection settings from a postgres:// URL, and translation of connection failures into one
 * sentence without secrets. Every other file of this driver connects through here.
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { SourceError, UsageError } from '../../../src/util/errors.js';
import { redactUrl } from '../../../src/util/redact.js';

export interface PgEndpoint {
  readonly config: pg.ClientConfig;
  /** The URL without password or query, for messages. */
  readonly display: string;
  readonly database: string;
}

export function parsePgUrl(url: string): PgEndpoint {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(
      `"${redactUrl(url)}" is not a valid PostgreSQL URL; expected postgres://user@host:5432/database.`,
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new UsageError(
      `"${redactUrl(url)}" is not a PostgreSQL URL; expected postgres://user@host:5432/database.`,
    );
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'postgres';
  const host = u.searchParams.get('host') ?? (decodeURIComponent(u.hostname) || 'localhost');
  const config: pg.ClientConfig = {
    host,
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || process.env.PGUSER || 'postgres',
    database,
    application_name: 'crm-backup',
  };
  if (u.password) config.password = decodeURIComponent(u.password);
  else if (process.env.PGPASSWORD) config.password = process.env.PGPASSWORD;
  // libpq's `options` (`?options=-c%20work_mem%3D64MB`): settings the server applies to the session
  const options = u.searchParams.get('options');
  if (options) config.options = options;
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode && sslmode !== 'disable')
    config.ssl = sslmode === 'require' ? { rejectUnauthorized: false } : true;
  return { config, display: redactUrl(url), database };
}

/** Maps a pg/socket error to a SourceError whose message a DBA can act on (never the password). */
export function connectionError(err: unknown, target: PgEndpoint): SourceError {
  const e = err as { code?: string; message?: string };
  const where = target.display;
  if (err instanceof NoPasswordGiven)
    return new SourceError(
      `PostgreSQL at ${where} asks for a password for user "${target.config.user ?? ''}" and none was given; put it in the URL, in PGPASSWORD or in ~/.pgpass (or the file PGPASSFILE names).`,
      { cause: err, source: where },
    );
  switch (e.code) {
    case 'ECONNREFUSED':
      return new SourceError(
        `Cannot connect to PostgreSQL at ${where}: connection refused (is the server running and listening there?).`,
        { cause: err, source: where },
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new SourceError(`Cannot connect to PostgreSQL at ${where}: the host name does not resolve.`, {
        cause: err,
        source: where,
      });
    case 'ETIMEDOUT':
      return new SourceError(`Cannot connect to PostgreSQL at ${where}: the connection timed out.`, {
        cause: err,
        source: where,
      });
    case '28P01':
    case '28000':
      return new SourceError(
        `PostgreSQL at ${where} rejected the credentials of user "${target.config.user ?? ''}" (wrong password or no pg_hba.conf entry).`,
        { cause: err, source: where },
      );
    case '3D000':
      return new SourceError(`PostgreSQL at ${where} has no database "${target.database}".`, {
        cause: err,
        source: where,
      });
    default:
      if (/^timeout expired$|connection timeout/i.test(e.message ?? ''))
        return new SourceError(
          `Cannot connect to PostgreSQL at ${where}: no answer within ${(target.config.connectionTimeoutMillis ?? CONNECT_TIMEOUT_MS) / 1000} s (is the host reachable and the port open to this machine?).`,
          { cause: err, source: where },
        );
      return new SourceError(`PostgreSQL at ${where} failed: ${(e.message ?? String(err)).split('\n')[0]}.`, {
        cause: err,
        source: where,
      });
  }
}

const CONNECT_TIMEOUT_MS = 30_000;

/** The server asked for a password, and neither the URL, PGPASSWORD nor the password file has one. */
class NoPasswordGiven extends Error {}

type PgPassLookup = (params: unknown, found: (password: string | undefined) => void) => void;

/**
 * The password file reader pg itself uses (the `pgpass` package, declared as our own dependency
 * at pg's version): it reads ~/.pgpass or PGPASSFILE as libpq does. Loaded on demand, only when a
 * server asks for a password that the URL and PGPASSWORD do not give.
 */
function pgPassLookup(): PgPassLookup {
  return createRequire(import.meta.url)('pgpass') as PgPassLookup;
}

/**
 * pg calls this only when the server asks for a password and none was configured. Without it, pg
 * would fail later in words of its own ("client password must be a string" for SCRAM, a wrong
 * MD5 hash for md5): so the password file is read here, and when it has none either, the
 * connection fails with NoPasswordGiven, which connectionError says in one sentence.
 */
function passwordOnDemand(params?: unknown): Promise<string> {
  const lookup = pgPassLookup();
  return new Promise((resolve, reject) => {
    const done = (password: string | undefined): void =>
      password === undefined || password === '' ? reject(new NoPasswordGiven()) : resolve(password);
    if (params === undefined) done(undefined);
    else lookup(params, done);
  });
}

/**
 * Ends a client that may be stuck on a silent socket: queries in flight reject at once (`end()`
 * would wait for a goodbye the network may never deliver).
 */
export function destroyClient(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

/**
 * `fn` on `client`, which is destroyed if `fn` has not settled after `ms` (a silent network); then
 * this throws, whatever `fn` made of its queries' failures.
 */
export async function withDeadline<T>(client: pg.Client, ms: number, fn: () => Promise<T>): Promise<T> {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    destroyClient(client);
  }, ms);
  const gaveUp = (cause?: unknown): Error =>
    new Error(`no answer from the server within ${ms / 1000} s; the connection was given up`, { cause });
  try {
    const out = await fn();
    if (fired) throw gaveUp();
    return out;
  } catch (err) {
    throw fired ? gaveUp(err) : err;
  } finally {
    clearTimeout(timer);
  }
}

/** Ends a client, destroying it when the server does not answer the goodbye within `ms`. */
export async function endClient(client: pg.Client, ms = 5000): Promise<void> {
  const timer = setTimeout(() => destroyClient(client), ms);
  try {
    await client.end();
  } catch {
    // already broken: nothing to end
  } finally {
    clearTimeout(timer);
  }
}

/** Connects a new client; `replication: 'database'` opens a logical replication connection. */
export async function connect(target: PgEndpoint, opts?: { replication?: boolean }): Promise<pg.Client> {
  // `replication` is a libpq startup parameter pg passes through; @types/pg does not declare it.
  const config: pg.ClientConfig = opts?.replication
    ? ({ ...target.config, replication: 'database' } as pg.ClientConfig)
    : target.config;
  // TCP keepalive lets the kernel notice a peer that vanished without a word (a dead host, a
  // dropped NAT entry); an unreachable server fails the connect in 30 s, not the OS's minutes.
  const client = new pg.Client({
    keepAlive: true,
    keepAliveInitialDelayMillis: 30_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...config,
    password: config.password ?? passwordOnDemand,
  });
  // An idle client whose server goes away emits 'error'; without a listener that kills the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw connectionError(err, target);
  }
  return client;
}

/**
 * The settings every value crosses the wire as text under: the snapshot's COPY OUT, the
 * restore's COPY IN and replay (replication.ts gives the walsender the same styles as startup
 * options). Pinned on each session, because database and role defaults change the text: under
 * `ALTER DATABASE … SET DateStyle = 'SQL, DMY'` COPY writes 2024-03-05 as 05/03/2024, which an
 * MDY session reads as 3 May, and extra_float_digits = 0 rounds every float8.
 */
export const TEXT_SETTINGS = {
  client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  TimeZone: 'UTC',
  extra_float_digits: '3',
  bytea_output: 'hex',
} as const;

/**
 * The TEXT_SETTINGS that change how text is parsed. The others only shape output; a session that
 * only reads our text leaves them (TimeZone above all) to the database, because generated columns
 * and expression indexes computed there must see the zone the application's sessions see.
 */
const PARSE_SETTINGS: ReadonlySet<string> = new Set(['client_encoding', 'DateStyle', 'IntervalStyle']);

/**
 * `SET name = 'value'; …` pinning TEXT_SETTINGS, for one multi-statement query: all of them for a
 * session that writes text, `parse` for one that only reads it; `local` for this transaction only.
 */
export function textSettingsSql(opts: { only?: 'parse'; local?: boolean } = {}): string {
  return Object.entries(TEXT_SETTINGS)
    .filter(([name]) => opts.only !== 'parse' || PARSE_SETTINGS.has(name))
    .map(([name, value]) => `SET ${opts.local ? 'LOCAL ' : ''}${name} = '${value}'`)
    .join('; ');
}

/** Double-quotes an identifier for SQL (quotes inside are doubled). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `schema.table` quoted for SQL. */
export function quoteQualified(schema: string, table: string): string {
  return `${quoteIdent(schema)}.${quoteIdent(table)}`;
}
