/**
 * MongoDB change log: one change stream over the deployment (`allChangesForCluster`, filtered on
 * the server to the source database and crm-backup's marker collection), with
 * `showExpandedEvents` so that collection and index changes are in it, and
 * `$changeStreamSplitLargeEvent` where the server has it (7.0+) so that an event near 16 MB
 * arrives in fragments instead of failing the stream. Events are read as raw BSON
 * (internal/cursor.ts) and grouped into stored transactions (internal/assembly.ts, payload
 * `mongodb-changes/1`).
 *
 * Position and resuming: a stored transaction's position carries the resume token of its last
 * event (internal/position.ts); the stream resumes with `startAfter` that token, so the resume
 * token is kept only where the repository stores it, after the segment is durable. A log
 * opened without a position starts at the server's present (`ChangeLog.from` is the first
 * post-batch resume token). When the server no longer holds the stored resume point
 * (ChangeStreamHistoryLost: the oplog rolled past it), the log continues from the present and
 * says so in one sentence: `ChangeLog.from` is then later than the stored position, the gap is
 * recorded, and restores into it are refused. Lost while running, the stream stops with that
 * sentence; started again, it continues as above.
 *
 * Idle markers: an upsert of `{ _id: <source name> }` in `crmb.heartbeat` whenever nothing has
 * committed for `markerMs` (src/driver/idle.ts); `dropMongoChangeLog` removes the document, and
 * the collection and database with the last stream.
 */
import { Timestamp as BsonTimestamp, type MongoClient } from 'mongodb';
import { heartbeatPollMs, IdleMarkers } from '../../src/driver/idle.js';
import { PartSpool } from '../../src/driver/part-spool.js';
import { reconnecting } from '../../src/driver/reconnect.js';
import type { ChangeLog, ChangeLogItem, Position, StreamOptions } from '../../src/driver/source-driver.js';
import { SourceError } from '../../src/util/errors.js';
import { asString, field } from './internal/bson-raw.js';
import { EventAssembler, type AssembledPart } from './internal/assembly.js';
import {
  changeStreamServer,
  connect,
  cursorCommand,
  getMore,
  killCursor,
  mongoError,
  serverCode,
  SERVER_CODES,
  type MongoEndpoint,
} from './internal/connection.js';
import type { CursorBatch } from './internal/cursor.js';
import { formatPosition, parsePosition, tokenClusterTime } from './internal/position.js';

export const MARKER = { db: 'crmb', coll: 'heartbeat' } as const;

interface Session {
  client: MongoClient;
  cursorId: bigint;
  collection: string;
  first: CursorBatch | undefined;
}

/** The stream's pipeline: the change stream stage, the server-side filter, the splitter. */
export function streamPipeline(
  database: string,
  start: Record<string, unknown>,
  splitLarge: boolean,
): Record<string, unknown>[] {
  return [
    { $changeStream: { allChangesForCluster: true, showExpandedEvents: true, ...start } },
    {
      $match: {
        $or: [
          { 'ns.db': database },
          { 'to.db': database },
          { 'ns.db': MARKER.db, 'ns.coll': MARKER.coll },
          { operationType: 'invalidate' },
        ],
      },
    },
    ...(splitLarge ? [{ $changeStreamSplitLargeEvent: {} }] : []),
  ];
}

/** `startAfter` the token of a position, or the first cluster time after it when it has none. */
function startAfter(position: Position | undefined): Record<string, unknown> {
  if (position === undefined) return {};
  const p = parsePosition(position);
  if (p.token) return { startAfter: { _data: p.token } };
  const next = p.ts.i === 0xffff_ffff ? { t: p.ts.t + 1, i: 0 } : { t: p.ts.t, i: p.ts.i + 1 };
  return { startAtOperationTime: new BsonTimestamp(next) };
}

export function pbrtPosition(batch: CursorBatch): Position | undefined {
  const token = batch.postBatchToken;
  const ts = token ? tokenClusterTime(token) : undefined;
  return token && ts ? formatPosition({ ts, token: token.toUpperCase() }) : undefined;
}

export async function openMongoChangeLog(
  ep: MongoEndpoint,
  from: Position | undefined,
  opts: StreamOptions & { readonly sourceName: string },
): Promise<ChangeLog> {
  const client = await connect(ep);
  try {
    const { split } = await changeStreamServer(client, ep, ', which has no change streams');
    let first: CursorBatch;
    let continuesFrom: Position;
    try {
      first = await aggregate(client, ep, startAfter(from), split);
      continuesFrom = from ?? pbrtPosition(first) ?? '0.0';
    } catch (err) {
      if (serverCode(err) !== SERVER_CODES.changeStreamHistoryLost || from === undefined) throw err;
      first = await aggregate(client, ep, {}, split);
      continuesFrom = pbrtPosition(first) ?? from;
      opts.onStatus?.({
        message: `${ep.display} no longer holds the stored resume point ${from} in its oplog (ChangeStreamHistoryLost): the changes between it and ${continuesFrom}, where the log continues, are lost to the log; restores into that gap will be refused (keep a longer oplog window than the stream may be stopped).`,
      });
    }
    return new MongoChangeLog(client, ep, continuesFrom, first, split, opts);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw mongoError(err, ep, 'Cannot open the change stream of');
  }
}

export async function aggregate(
  client: MongoClient,
  ep: MongoEndpoint,
  start: Record<string, unknown>,
  split: boolean,
): Promise<CursorBatch> {
  return cursorCommand(client.db('admin'), {
    aggregate: 1,
    pipeline: streamPipeline(ep.database, start, split),
    cursor: {},
  });
}

class MongoChangeLog implements ChangeLog {
  private closed = false;
  /** The last complete transaction or heartbeat yielded: where a new session resumes. */
  private resumeAt: Position;
  private readonly assembler: EventAssembler;
  private readonly spool = new PartSpool();
  private pending: CursorBatch | undefined;

  constructor(
    private readonly client: MongoClient,
    private readonly ep: MongoEndpoint,
    readonly from: Position,
    first: CursorBatch,
    private readonly split: boolean,
    private readonly opts: StreamOptions & { readonly sourceName: string },
  ) {
    this.resumeAt = from;
    this.pending = first;
    this.assembler = new EventAssembler({ db: ep.database, marker: MARKER });
  }

  async acknowledge(_upTo: Position): Promise<void> {
    // nothing is kept on the server: the stored position's resume token is the acknowledgement
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.spool.clear();
    await this.client.close().catch(() => undefined);
  }

  [Symbol.asyncIterator](): AsyncIterator<ChangeLogItem> {
    const markers = new IdleMarkers({
      ...(this.opts.markerMs === undefined ? {} : { markerMs: this.opts.markerMs }),
      emit: async () => {
        await this.client
          .db(MARKER.db)
          .collection<{ _id: string; at: Date }>(MARKER.coll)
          .updateOne({ _id: this.opts.sourceName }, { $set: { at: new Date() } }, { upsert: true });
        return true;
      },
    });
    const items = reconnecting<Session, ChangeLogItem>(
      {
        open: async () => {
          const first =
            this.pending ?? (await aggregate(this.client, this.ep, startAfter(this.resumeAt), this.split));
          this.pending = undefined;
          return { client: this.client, cursorId: first.id, collection: '$cmd.aggregate', first };
        },
        read: (s, received) => this.read(s, received, markers),
        async close(s) {
          await killCursor(s.client.db('admin'), s.collection, s.cursorId);
          s.cursorId = 0n;
        },
        retryable: (err) => {
          const code = serverCode(err);
          if (code === SERVER_CODES.changeStreamHistoryLost || code === SERVER_CODES.changeStreamFatal)
            return false;
          if (code === SERVER_CODES.unauthorized) return false;
          return !(err instanceof SourceError);
        },
        fatal: (err) =>
          serverCode(err) === SERVER_CODES.changeStreamHistoryLost
            ? new SourceError(
                `The change stream of ${this.ep.display} cannot resume from ${this.resumeAt}: the oplog no longer holds it (ChangeStreamHistoryLost); start the stream again to continue from the present, with the gap recorded.`,
                { cause: err, source: this.ep.display },
              )
            : mongoError(err, this.ep, 'The change stream stopped on'),
      },
      {
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        stopped: () => this.closed,
        ...(this.opts.onStatus ? { onStatus: this.opts.onStatus } : {}),
        what: `The change stream of ${this.ep.display}`,
        resumesFrom: () => this.resumeAt,
      },
    );
    const it = items[Symbol.asyncIterator]();
    return {
      next: () => it.next(),
      return: async (v?: unknown) => {
        markers.stop();
        return it.return ? it.return(v as never) : { done: true, value: undefined };
      },
    };
  }

  private async *read(s: Session, received: () => void, markers: IdleMarkers): AsyncGenerator<ChangeLogItem> {
    // a new session resends every event after the last complete transaction
    await this.spool.clear();
    this.assembler.reset();
    const poll = heartbeatPollMs(this.opts);
    let batch = s.first;
    s.first = undefined;
    for (;;) {
      if (this.closed || this.opts.signal?.aborted) return;
      if (!batch) {
        if (s.cursorId === 0n)
          throw new SourceError(
            `The server closed the change stream of ${this.ep.display}; it is reopened from the last stored position.`,
          );
        batch = await getMore(this.client.db('admin'), s.collection, s.cursorId, { maxTimeMS: poll });
      }
      received();
      s.cursorId = batch.id;
      for (const raw of batch.docs) {
        if (asString(field(raw, 'operationType')) === 'invalidate')
          throw new SourceError(
            `The change stream of ${this.ep.display} was invalidated; start the stream again (it continues from the last stored position).`,
            { source: this.ep.display },
          );
        for (const part of this.assembler.push(raw)) yield* this.take(part, markers);
      }
      if (batch.postBatchToken)
        for (const part of this.assembler.advance(batch.postBatchToken)) yield* this.take(part, markers);
      const at = pbrtPosition(batch);
      if (at && !this.assembler.open) {
        this.resumeAt = at;
        this.opts.onStatus?.({ received: at });
        yield { kind: 'heartbeat', position: at, serverTime: BigInt(Date.now()) * 1000n };
      }
      batch = undefined;
    }
  }

  private async *take(part: AssembledPart, markers: IdleMarkers): AsyncGenerator<ChangeLogItem> {
    await this.spool.add({ payload: part.payload, changes: part.changes, tables: part.tables });
    if (part.more) return;
    markers.committed();
    yield* this.spool.transactions(part.position, part.commitTime);
    this.resumeAt = part.position;
  }
}

/**
 * Removes what the stream of `sourceName` wrote on the source: its marker document, and
 * collection `crmb.heartbeat` (and so database `crmb`) once no other stream's marker is left.
 */
export async function dropMongoChangeLog(ep: MongoEndpoint, sourceName: string): Promise<string[]> {
  const client = await connect(ep);
  try {
    const coll = client.db(MARKER.db).collection<{ _id: string }>(MARKER.coll);
    const lines: string[] = [];
    const { deletedCount } = await coll.deleteOne({ _id: sourceName });
    if (deletedCount)
      lines.push(`Removed the idle-marker document of ${sourceName} from ${MARKER.db}.${MARKER.coll}.`);
    if ((await coll.countDocuments({})) === 0) {
      const dropped = await coll.drop().catch(() => false);
      if (dropped) lines.push(`Dropped ${MARKER.db}.${MARKER.coll} (no other stream uses it).`);
    }
    return lines;
  } catch (err) {
    throw mongoError(err, ep, 'Cannot remove the change-log markers on');
  } finally {
    await client.close().catch(() => undefined);
  }
}
