/**
 * Connecting to MongoDB, and the commands the driver runs with raw replies. The URL is read by
 * the driver's own url.ts (a seed list is not a WHATWG URL); messages name the server by its
 * redacted URL only.
 */
import { Long, MongoClient, MongoServerError, type Db, type Document } from 'mongodb';
import { firstLine } from '../../../src/driver/reconnect.js';
import { SourceError, UsageError } from '../../../src/util/errors.js';
import { urlSyntax } from '../url.js';
import { cursorDocument, readCursor, type CursorBatch } from './cursor.js';

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

/** How long an operation waits for a usable server: long enough to outlast a primary election. */
const SELECT_MS = 15_000;
/** How long a preflight (doctor) waits for one: a server that is down says so within seconds. */
export const PREFLIGHT_SELECT_MS = 3_000;

export async function connect(
  ep: MongoEndpoint,
  opts: { serverSelectionTimeoutMS?: number } = {},
): Promise<MongoClient> {
  let client: MongoClient;
  try {
    client = new MongoClient(ep.url, {
      serverSelectionTimeoutMS: opts.serverSelectionTimeoutMS ?? SELECT_MS,
      appName: 'crm-backup',
    });
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

/** A command that opens or continues a cursor (`find`, `aggregate`, `getMore`, …): its batch as bytes. */
export async function cursorCommand(db: Db, cmd: Document): Promise<CursorBatch> {
  return readCursor(cursorDocument(await rawCommand(db, cmd)));
}

/** The next batch of cursor `id`, opened on `collection` of `db`. */
export function getMore(db: Db, collection: string, id: bigint, opts: Document = {}): Promise<CursorBatch> {
  return cursorCommand(db, { getMore: Long.fromBigInt(id), collection, ...opts });
}

/** Closes cursor `id` on the server when it is still open; a failure leaves it to time out. */
export async function killCursor(db: Db, collection: string, id: bigint): Promise<void> {
  if (id === 0n) return;
  await db.command({ killCursors: collection, cursors: [Long.fromBigInt(id)] }).catch(() => undefined);
}

export function serverCode(err: unknown): number | undefined {
  return err instanceof MongoServerError && typeof err.code === 'number' ? err.code : undefined;
}

/** Server error codes the change stream reacts to (those a replayed write may meet: writes.ts CODES). */
export const SERVER_CODES = {
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

/** Servers from which `$changeStreamSplitLargeEvent` exists (7.0; 6.0.9 has it too). */
const SPLIT_LARGE_FROM = 70000;

/**
 * The facts of a server whose change stream is about to be read, and whether it can split a large
 * event; a standalone, which has no change stream, is refused: `${display} is a standalone
 * server${problem}; run it as a replica set …`.
 */
export async function changeStreamServer(
  client: MongoClient,
  ep: MongoEndpoint,
  problem: string,
): Promise<{ facts: ServerFacts; split: boolean }> {
  const facts = await serverFacts(client);
  if (facts.topology === 'standalone')
    throw new SourceError(
      `${ep.display} is a standalone server${problem}; run it as a replica set (a single-node one will do: start mongod with --replSet rs0 and run rs.initiate()).`,
      { source: ep.display },
    );
  return { facts, split: facts.versionNumber >= SPLIT_LARGE_FROM };
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
