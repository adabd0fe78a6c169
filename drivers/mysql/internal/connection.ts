/**
 * Connection settings from a mysql:// or mariadb:// URL (read by `url.ts`'s rules), sessions
 * pinned to the settings every value crosses the wire under, and connection failures in one
 * sentence without secrets. Every other file of this driver connects through here.
 */
import mysql from 'mysql2';
import type { Connection, ConnectionOptions, FieldPacket, QueryOptions } from 'mysql2';
import { SourceError, UsageError } from '../../../src/util/errors.js';
import { redactUrl } from '../../../src/util/redact.js';
import { decodeComponent, splitHostPort, splitUrl } from '../../../src/util/url-parts.js';

export interface MysqlEndpoint {
  readonly options: ConnectionOptions;
  /** The URL without password, for messages. */
  readonly display: string;
  readonly database: string;
}

const EXPECTED = 'expected mysql://user@host:3306/database';

export function parseMysqlUrl(url: string): MysqlEndpoint {
  const display = redactUrl(url);
  const refuse = (why: string): never => {
    throw new UsageError(`"${display}" is not a MySQL/MariaDB URL crm-backup can read: ${why}.`);
  };
  const split = splitUrl(url);
  if (!split.ok) return refuse(split.problem);
  const { scheme, user: rawUser, hosts, path, query } = split.parts;
  if (!/^(mysql|mariadb)$/.test(scheme)) return refuse(EXPECTED);
  if (hosts.includes(',')) return refuse(`it lists several hosts; ${EXPECTED}`);
  const hp = splitHostPort(hosts);
  if (!hp) return refuse(`its port is not a number from 0 to 65535; ${EXPECTED}`);
  const host = decodeComponent(hp.host);
  const database = decodeComponent(path.replace(/^\//, ''));
  if (host === undefined || database === undefined) return refuse('it holds a malformed %-escape');
  if (!database) return refuse(`it names no database; ${EXPECTED}`);
  const params = new URLSearchParams(query);
  const user = decodeComponent(rawUser) ?? '';
  // the password is the userinfo after the first colon (splitUrl never hands it out)
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)@/i.exec(url)?.[1] ?? '';
  const colon = userinfo.indexOf(':');
  const password = colon < 0 ? undefined : decodeComponent(userinfo.slice(colon + 1));
  const socketPath = params.get('socketPath') || (host.startsWith('/') ? host : '');
  const options: ConnectionOptions = {
    user: user || process.env.USER || 'root',
    database,
    ...(socketPath ? { socketPath } : { host: host || 'localhost', port: hp.port ? Number(hp.port) : 3306 }),
    ...(password ? { password } : process.env.MYSQL_PWD ? { password: process.env.MYSQL_PWD } : {}),
    ...sslOption(params.get('ssl'), refuse),
  };
  return { options, display, database };
}

/**
 * `?ssl=true` (or `required`, `1`) asks for TLS with the defaults; `?ssl={"rejectUnauthorized":true}`
 * gives mysql2's TLS options as JSON, as mysql2's own URLs do; `false`, `0` or none: no TLS.
 */
function sslOption(value: string | null, refuse: (why: string) => never): Pick<ConnectionOptions, 'ssl'> {
  if (!value || /^(false|0|disabled?)$/i.test(value)) return {};
  if (/^(true|required?|1)$/i.test(value)) return { ssl: {} };
  try {
    const parsed = JSON.parse(value) as unknown;
    if (parsed && typeof parsed === 'object') return { ssl: parsed as ConnectionOptions['ssl'] };
  } catch {
    // refused below
  }
  return refuse('its ssl option is neither true, false nor a JSON object of TLS options');
}

/** Options every session of this driver uses: exact numbers as text, dates as text, no conversion in the client. */
const BASE: ConnectionOptions = {
  supportBigNumbers: true,
  bigNumberStrings: true,
  dateStrings: true,
  timezone: 'Z',
  charset: 'UTF8MB4_GENERAL_CI',
  connectTimeout: 30_000,
  enableKeepAlive: true,
  keepAliveInitialDelay: 30_000,
  multipleStatements: false,
};

/** Opens a session; `+00:00` so TIMESTAMP text is UTC on both sides of a restore. */
export async function connect(target: MysqlEndpoint): Promise<Session> {
  const conn = mysql.createConnection({ ...BASE, ...target.options });
  // an idle connection whose server goes away emits 'error'; without a listener that kills the process
  conn.on('error', () => {});
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  const session = new Session(conn, target);
  await session.query("SET SESSION time_zone = '+00:00'");
  return session;
}

export type Row = Record<string, unknown>;

/** A connection with promise queries and errors translated to one sentence. */
export class Session {
  constructor(
    readonly conn: Connection,
    readonly target: MysqlEndpoint,
  ) {}

  query<T = Row>(sql: string | QueryOptions, values?: unknown[]): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const cb = (err: Error | null, rows: unknown): void => (err ? reject(err) : resolve(rows as T[]));
      if (values) this.conn.query(sql as string, values, cb);
      else this.conn.query(sql as QueryOptions, cb);
    });
  }

  /** A statement whose result is a status (LOAD DATA, DDL): affected rows and warnings. */
  exec(sql: string | QueryOptions): Promise<{ affectedRows: number; warningStatus: number }> {
    return new Promise((resolve, reject) =>
      this.conn.query(sql as QueryOptions, (err: Error | null, res: unknown) =>
        err ? reject(err) : resolve(res as { affectedRows: number; warningStatus: number }),
      ),
    );
  }

  /** The first column of the first row, as text. */
  async value(sql: string, values?: unknown[]): Promise<string | undefined> {
    const rows = await new Promise<unknown[][]>((resolve, reject) =>
      this.conn.query(
        { sql, values, rowsAsArray: true },
        (err: Error | null, r: unknown, _f?: FieldPacket[]) =>
          err ? reject(err) : resolve(r as unknown[][]),
      ),
    );
    const v = rows[0]?.[0];
    return v === null || v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  }

  /** Ends the session, destroying it when the server does not answer the goodbye within `ms`. */
  async end(ms = 5000): Promise<void> {
    const timer = setTimeout(() => this.conn.destroy(), ms);
    try {
      await new Promise<void>((resolve) => this.conn.end(() => resolve()));
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.conn.destroy();
  }
}

/** Maps a mysql2/socket error to a SourceError whose message a DBA can act on (never the password). */
export function connectionError(err: unknown, target: MysqlEndpoint): SourceError {
  if (err instanceof SourceError) return err;
  const e = err as { code?: string; errno?: number; message?: string };
  const where = target.display;
  const user = target.options.user ?? '';
  const say = (text: string): SourceError => new SourceError(text, { cause: err, source: where });
  switch (e.code) {
    case 'ECONNREFUSED':
      return say(
        `Cannot connect to MySQL/MariaDB at ${where}: connection refused (is the server running and listening there?).`,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return say(`Cannot connect to MySQL/MariaDB at ${where}: the host name does not resolve.`);
    case 'ETIMEDOUT':
      return say(`Cannot connect to MySQL/MariaDB at ${where}: the connection timed out.`);
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      return say(
        `MySQL/MariaDB at ${where} rejected the credentials of user "${user}" (wrong password, or no account for this host).`,
      );
    case 'ER_BAD_DB_ERROR':
      return say(`MySQL/MariaDB at ${where} has no database "${target.database}".`);
    case 'ER_DBACCESS_DENIED_ERROR':
      return say(
        `User "${user}" may not use database "${target.database}" on ${where}; grant it access to the database.`,
      );
    default:
      return say(`MySQL/MariaDB at ${where} failed: ${firstLine(err)}.`);
  }
}

export function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]?.replace(/\.$/, '') ?? 'unknown error';
}

/** Backquotes an identifier for SQL (backquotes inside are doubled). */
export function quoteIdent(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A string literal for SQL, for the few statements that take no placeholders. */
export function quoteString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The server's flavour and version, from `SELECT VERSION()`. */
export interface ServerInfo {
  readonly flavour: 'mariadb' | 'mysql';
  readonly version: string;
  /** major * 10000 + minor * 100 + patch, e.g. 101119 for 10.11.19 */
  readonly versionNumber: number;
}

export async function serverInfo(s: Session): Promise<ServerInfo> {
  const version = (await s.value('SELECT VERSION()')) ?? '';
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  const versionNumber = m ? Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]) : 0;
  return { flavour: /mariadb/i.test(version) ? 'mariadb' : 'mysql', version, versionNumber };
}
