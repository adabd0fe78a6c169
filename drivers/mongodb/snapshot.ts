/**
 * A snapshot of one MongoDB database, made consistent the way `mongodump --oplog` makes it: a
 * change stream is opened first (its first post-batch resume token is where the snapshot starts),
 * then every collection is read with `find` (raw BSON, stream `mongodb-bson/1`), then the change
 * stream is read until it has passed the cluster time the server reported once the last
 * collection was read, and those events are stored as the snapshot's last stream, `$changes`
 * (format `mongodb-changes-tail/1`). A restore loads the collections and replays `$changes`
 * idempotently before it builds the indexes: the result is the database at one instant, the end
 * of the tail, which is the snapshot's position and consistency time.
 *
 * Because that instant is known only when the tail has been read, `position`, `consistentAt` and
 * `consistentAtMicros` are final only once `streams()` is exhausted (the snapshot job reads them
 * when it commits the manifest); before that they give the start of the tail.
 *
 * A collection renamed while it was being read cannot be made consistent (its documents moved
 * under a name that was already read), nor can one renamed into the database from another (its
 * documents were never read, and the log cannot bring them): the snapshot refuses and asks to be
 * run again.
 */
import type { Document, MongoClient } from 'mongodb';
import type { SnapshotOptions, SnapshotReader, TableStream } from '../../src/driver/source-driver.js';
import { concatBytes } from '../../src/util/bytes.js';
import { AbortError, SourceError, throwIfAborted } from '../../src/util/errors.js';
import { aggregate, MARKER, pbrtPosition } from './change-log.js';
import { EventAssembler, type AssembledPart } from './internal/assembly.js';
import { asBool, asString, buildDocument, el, field } from './internal/bson-raw.js';
import {
  changeStreamServer,
  connect,
  cursorCommand,
  getMore,
  killCursor,
  mongoError,
  type MongoEndpoint,
} from './internal/connection.js';
import type { CursorBatch } from './internal/cursor.js';
import { LOAD_FORMAT } from './internal/load.js';
import { decodePayload, type ChangeRecord } from './internal/payload.js';
import { compareTimestamps, parsePosition, tokenClusterTime } from './internal/position.js';
import { ROLES_INFO, USERS_INFO, type UsersAndRoles } from './internal/users.js';
import {
  findCommand,
  idRanges,
  sampleCommand,
  splitting,
  unsplittable,
  type IdRange,
} from './internal/split.js';
import { tableNames, TAIL_STREAM } from './names.js';
import { collectionOf, encodeSchema, SCHEMA_FORMAT, type CollectionSchema } from './schema.js';

export { TAIL_STREAM } from './names.js';
export { splitting } from './internal/split.js';
export const TAIL_FORMAT = 'mongodb-changes-tail/1';

/** Documents asked for per `find`/`getMore` batch (the server also stops at 16 MiB). */
const FIND_BATCH = 10_000;
const TAIL_POLL_MS = 1_000;

/** One stored part of the tail: what `Transaction` holds, as a BSON document. */
export function encodeTailPart(p: AssembledPart): Uint8Array {
  return buildDocument([
    el.string('position', p.position),
    el.int64('commitTime', p.commitTime),
    el.bool('more', p.more),
    el.int32('changes', p.changes),
    el.binary('payload', p.payload),
  ]);
}

/**
 * Why a record of the tail leaves the snapshot of database `db` inconsistent, if it does; `read`:
 * the collections the snapshot reads.
 */
export function tailRefusal(r: ChangeRecord, db: string, read: ReadonlySet<string>): string | undefined {
  if (r.op !== 'rename') return undefined;
  if (r.db !== undefined && r.db !== db)
    return `Collection ${r.db}.${r.coll ?? '?'} was renamed into ${db} as ${r.toColl ?? '?'} while the snapshot read it; its documents were never read, so the snapshot cannot be made consistent; run the snapshot again.`;
  if (r.coll !== undefined && read.has(r.coll))
    return `Collection ${r.coll} was renamed while the snapshot read it, so the snapshot cannot be made consistent; run the snapshot again.`;
  return undefined;
}

async function* cursorBatches(
  client: MongoClient,
  db: string,
  collection: string,
  first: CursorBatch,
  signal: AbortSignal | undefined,
): AsyncGenerator<CursorBatch> {
  let batch = first;
  try {
    for (;;) {
      yield batch;
      if (batch.id === 0n) return;
      throwIfAborted(signal);
      batch = await getMore(client.db(db), collection, batch.id, { batchSize: FIND_BATCH });
    }
  } finally {
    await killCursor(client.db(db), collection, batch.id);
  }
}

async function listAll(
  client: MongoClient,
  db: string,
  cmd: Record<string, unknown>,
  collection: string,
): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  const first = await cursorCommand(client.db(db), cmd);
  for await (const b of cursorBatches(client, db, collection, first, undefined)) out.push(...b.docs);
  return out;
}

export async function openSnapshot(ep: MongoEndpoint, opts: SnapshotOptions): Promise<SnapshotReader> {
  const signal = opts.signal;
  throwIfAborted(signal);
  const client = await connect(ep);
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await client.close().catch(() => undefined);
  };
  try {
    const { facts, split } = await changeStreamServer(
      client,
      ep,
      ': a snapshot of a database that is being written to needs its change stream, which only a replica set has',
    );
    // the tail begins before the first document is read
    const tailFirst = await aggregate(client, ep, {}, split);
    const start = pbrtPosition(tailFirst);
    if (!start)
      throw new SourceError(
        `The change stream of ${ep.display} gave no resume token to start the snapshot from.`,
      );
    // reading the collections may outlast an idle cursor's life: the tail reopens from the token
    await killCursor(client.db('admin'), '$cmd.aggregate', tailFirst.id);
    const infos = await listAll(
      client,
      ep.database,
      { listCollections: 1, cursor: {} },
      '$cmd.listCollections',
    );
    const wanted = opts.tables?.length ? tableNames.matcher(opts.tables) : undefined;
    const collections: CollectionSchema[] = [];
    for (const info of infos) {
      const name = asString(field(info, 'name')) ?? '';
      if (name.startsWith('system.')) continue;
      if (wanted && !wanted(name)) continue;
      const type = asString(field(info, 'type')) ?? 'collection';
      const indexes =
        type === 'view' ? [] : await listAll(client, ep.database, { listIndexes: name, cursor: {} }, name);
      collections.push(collectionOf(info, indexes));
    }
    const privileges = opts.withPrivileges ? await usersAndRoles(client, ep.database) : undefined;
    const schema = encodeSchema({ db: ep.database, collections, ...(privileges ? { privileges } : {}) });
    const dumped = await planStreams(
      client,
      ep.database,
      collections.filter((c) => c.type !== 'view'),
      infos.map((i) => asString(field(i, 'name')) ?? ''),
      opts.jobs,
    );
    let position = start;
    let consistentAtMicros = BigInt(Date.now()) * 1000n;
    const reader: SnapshotReader = {
      get position() {
        return position;
      },
      get consistentAt() {
        return new Date(Number(consistentAtMicros / 1000n));
      },
      get consistentAtMicros() {
        return consistentAtMicros;
      },
      schema,
      schemaFormat: SCHEMA_FORMAT,
      meta: {
        serverVersion: facts.version,
        topology: facts.topology,
        database: ep.database,
        collections: collections.length,
        ...(privileges ? { users: privileges.users.length, roles: privileges.roles.length } : {}),
        splitCollections: new Set(dumped.filter((p) => p.range).map((p) => p.collection)).size,
        startedAtPosition: start,
      },
      matched: {
        tables: (opts.tables ?? []).filter((w) => collections.some((c) => tableNames.matcher([w])(c.name))),
        schemas: [],
      },
      streams: () =>
        snapshotStreams(client, ep, dumped, tailFirst, split, signal, (end, micros) => {
          position = end;
          consistentAtMicros = micros;
        }),
      close,
    };
    return reader;
  } catch (err) {
    await close();
    if (signal?.aborted && !(err instanceof AbortError)) throw new AbortError('interrupted', { cause: err });
    throw mongoError(err, ep, 'Cannot take a snapshot of');
  }
}

/** The users and roles of database `db`, with the users' credentials (--with-privileges only). */
async function usersAndRoles(client: MongoClient, db: string): Promise<UsersAndRoles> {
  const users = await client.db(db).command(USERS_INFO);
  const roles = await client.db(db).command(ROLES_INFO);
  return { users: (users.users as Document[]) ?? [], roles: (roles.roles as Document[]) ?? [] };
}

/** One snapshot stream: a collection, or one `_id` range of it (`name#n`). */
interface PlannedStream {
  readonly name: string;
  readonly collection: string;
  readonly range?: IdRange;
}

/**
 * The streams of the collections read: a collection large enough, when `jobs` > 1, in `jobs`
 * `_id` ranges (internal/split.ts) placed first, as they hold the most; the others whole. `names`:
 * every collection of the database, whose names a part's name must not take.
 */
async function planStreams(
  client: MongoClient,
  db: string,
  collections: readonly CollectionSchema[],
  names: readonly string[],
  jobs: number,
): Promise<PlannedStream[]> {
  const split: PlannedStream[] = [];
  const whole: PlannedStream[] = [];
  for (const c of collections) {
    const ranges = jobs > 1 ? await rangesOf(client, db, c, names, jobs) : undefined;
    if (!ranges) whole.push({ name: c.name, collection: c.name });
    else ranges.forEach((range, i) => split.push({ name: `${c.name}#${i + 1}`, collection: c.name, range }));
  }
  return [...split, ...whole];
}

async function rangesOf(
  client: MongoClient,
  db: string,
  c: CollectionSchema,
  names: readonly string[],
  parts: number,
): Promise<IdRange[] | undefined> {
  const why = unsplittable({
    name: c.name,
    type: c.type,
    collation: !!(c.options && field(c.options, 'collation')),
    clustered: !!(c.options && field(c.options, 'clusteredIndex')),
    idIndex: c.indexes.some((i) => asString(field(i, 'name')) === '_id_' && !asBool(field(i, 'clustered'))),
    others: names,
  });
  if (why) return undefined;
  // the count from the collection's metadata: no scan
  const counted = await client.db(db).command({ count: c.name });
  if (Number(counted.n ?? 0) < splitting.minDocuments) return undefined;
  const ids = (await listAll(client, db, sampleCommand(c.name, parts * splitting.samplesPerPart), c.name))
    .map((d) => field(d, '_id'))
    .filter((e) => e !== undefined);
  return idRanges(ids, parts);
}

async function* snapshotStreams(
  client: MongoClient,
  ep: MongoEndpoint,
  dumped: readonly PlannedStream[],
  tailFirst: CursorBatch,
  split: boolean,
  signal: AbortSignal | undefined,
  finished: (position: string, consistentAtMicros: bigint) => void,
): AsyncGenerator<TableStream> {
  let remaining = dumped.length;
  let allRead: () => void = () => undefined;
  const read = new Promise<void>((resolve) => (allRead = resolve));
  if (remaining === 0) allRead();
  for (const c of dumped) {
    const stream: { -readonly [K in keyof TableStream]: TableStream[K] } = {
      name: c.name,
      table: c.collection,
      format: LOAD_FORMAT,
      data: (async function* () {})(),
    };
    stream.data = (async function* () {
      let rows = 0;
      try {
        const first = await cursorCommand(
          client.db(ep.database),
          findCommand(c.collection, FIND_BATCH, c.range),
        );
        for await (const b of cursorBatches(client, ep.database, c.collection, first, signal)) {
          rows += b.docs.length;
          stream.rows = rows;
          if (b.docs.length) yield concatBytes(b.docs);
        }
      } catch (err) {
        if (signal?.aborted) throw new AbortError('interrupted', { cause: err });
        throw mongoError(err, ep, `Reading collection ${c.name} for the snapshot failed on`);
      } finally {
        if (--remaining === 0) allRead();
      }
    })();
    yield stream;
  }
  const names = new Set(dumped.map((c) => c.collection));
  yield {
    name: TAIL_STREAM,
    table: TAIL_STREAM,
    format: TAIL_FORMAT,
    data: tail(client, ep, tailFirst, split, names, read, signal, finished),
  };
}

/** The change events from the snapshot's start until after the last collection was read. */
async function* tail(
  client: MongoClient,
  ep: MongoEndpoint,
  first: CursorBatch,
  split: boolean,
  dumped: ReadonlySet<string>,
  allRead: Promise<void>,
  signal: AbortSignal | undefined,
  finished: (position: string, consistentAtMicros: bigint) => void,
): AsyncGenerator<Uint8Array> {
  await allRead;
  throwIfAborted(signal);
  const admin = client.db('admin');
  // a cluster time after every write the collections' reads may have seen
  const ping = await admin.command({ ping: 1 });
  const end = ping.operationTime as { t: number; i: number } | undefined;
  if (!end)
    throw new SourceError(
      `${ep.display} reported no operationTime, so the end of the snapshot cannot be fixed.`,
    );
  const assembler = new EventAssembler({ db: ep.database, marker: MARKER });
  let batch: CursorBatch | undefined = first;
  let at = pbrtPosition(first) as string;
  let cursorId = 0n;
  try {
    for (;;) {
      if (!batch) {
        throwIfAborted(signal);
        if (cursorId === 0n) {
          // after the first batch (already read), the events from its resume token on
          batch = await aggregate(client, ep, { startAfter: { _data: parsePosition(at).token } }, split);
        } else {
          batch = await getMore(admin, '$cmd.aggregate', cursorId, { maxTimeMS: TAIL_POLL_MS });
        }
        cursorId = batch.id;
      }
      const parts: AssembledPart[] = [];
      for (const raw of batch.docs) parts.push(...assembler.push(raw));
      const token = batch.postBatchToken;
      if (token) parts.push(...assembler.advance(token));
      for (const p of parts) {
        for (const r of decodePayload(p.payload).records) {
          const refusal = tailRefusal(r, ep.database, dumped);
          if (refusal) throw new SourceError(refusal, { source: ep.display });
        }
        yield encodeTailPart(p);
      }
      at = pbrtPosition(batch) ?? at;
      const ts = token ? tokenClusterTime(token) : undefined;
      if (ts && !assembler.open && compareTimestamps(ts, end) >= 0) break;
      batch = undefined;
    }
    const hello = await admin.command({ hello: 1 });
    const local = hello.localTime instanceof Date ? hello.localTime.getTime() : Date.now();
    finished(at, BigInt(local) * 1000n);
  } finally {
    await killCursor(admin, '$cmd.aggregate', cursorId);
  }
}
