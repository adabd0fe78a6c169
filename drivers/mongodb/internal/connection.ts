/**
 * Connecting to MongoDB, and the commands the driver runs with raw replies. The URL is read by
 * the driver's own url.ts (a seed list is not a WHATWG URL); messages name the server by its
 * redacted URL only.
 */
import { MongoClient, MongoServerError, type Db, type Document } from 'mongodb';
import { firstLine } from '../../../src/driver/reconnect.js';
import { SourceError, UsageError } from '../../../src/util/errors.js';
import { urlSyntax } from '../url.js';

export interface MongoEndpoint {
  /** The URL as given (with its password): only ever handed to the client. */
  readonly url: string;
  readonly database: string;
  /** The redacted URL, for messages. */
  readonly display: string;
}

export function parseMongoUrl(url: string): MongoEndpoint {
  const { defaultName, redacted } = urlSyntax.describeUrl(url);
  return { url, database: defaultName.slice(defaultName.lastIndexOf('/') + 1), display: redacted };
}

const SELECT_MS = 15_000;

export async function connect(ep: MongoEndpoint): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new MongoClient(ep.url, { serverSelectionTimeoutMS: SELECT_MS, appName: 'crm-backup' });
  } catch (err) {
    // the client reads the query options url.ts leaves alone (an unknown option, a bad value)
    throw new UsageError(
      `"${ep.display}" is not a MongoDB URL crm-backup can read: ${firstLine(err).replaceAll(ep.url, ep.display)}.`,
      { cause: err },
    );
  }
  try {
    await client.connect();
    return client;
  } catch (err) {
    await client.close().catch(() => undefined);
    throw mongoError(err, ep, 'Cannot connect to');
  }
}

/** One sentence for a failed call, naming the server, never the password. */
export function mongoError(err: unknown, ep: MongoEndpoint, what: string): SourceError {
  if (err instanceof SourceError) return err;
  const code = err instanceof MongoServerError ? ` (code ${String(err.code)})` : '';
  const text = firstLine(err).replaceAll(ep.url, ep.display);
  return new SourceError(`${what} ${ep.display}: ${text}${code}.`, { cause: err, source: ep.display });
}

/** A command whose reply keeps every sub-document as raw BSON (cursor.ts reads it). */
export function rawCommand(db: Db, cmd: Document, opts: { signal?: AbortSignal } = {}): Promise<unknown> {
  return db.command(cmd, { raw: true, ...(opts.signal ? { signal: opts.signal } : {}) } as never);
}

export function serverCode(err: unknown): number | undefined {
  return err instanceof MongoServerError && typeof err.code === 'number' ? err.code : undefined;
}

/** Server error codes the driver reacts to. */
export const SERVER_CODES = {
  namespaceNotFound: 26,
  changeStreamHistoryLost: 286,
  changeStreamFatal: 280,
  unauthorized: 13,
} as const;

export interface ServerFacts {
  readonly version: string;
  readonly versionNumber: number;
  /** `replicaSet` (setName), `sharded` (mongos) or `standalone`. */
  readonly topology: 'replicaSet' | 'sharded' | 'standalone';
  readonly setName?: string;
}

export async function serverFacts(client: MongoClient): Promise<ServerFacts> {
  const admin = client.db('admin');
  const hello = await admin.command({ hello: 1 });
  const info = await admin.command({ buildInfo: 1 });
  const version = String(info.version ?? '0');
  const [a = 0, b = 0, c = 0] = version.split('.').map((x) => parseInt(x, 10) || 0);
  const topology = hello.msg === 'isdbgrid' ? 'sharded' : hello.setName ? 'replicaSet' : 'standalone';
  return {
    version,
    versionNumber: a * 10000 + b * 100 + c,
    topology,
    ...(hello.setName ? { setName: String(hello.setName) } : {}),
  };
}
