/**
 * Change events as the server sends them (https://www.mongodb.com/docs/manual/reference/change-events/),
 * read from their raw BSON, and turned into the records of a `mongodb-changes/1` payload
 * (payload.ts). The fields a record keeps are copied as bytes; nothing of a document passes
 * through JavaScript values.
 *
 * Event fields read: `_id` (the resume token `{ _data }`), `operationType`, `clusterTime`,
 * `wallTime` (6.0+), `ns { db, coll }`, `to { db, coll }` (rename), `documentKey`, `fullDocument`,
 * `updateDescription { updatedFields, removedFields, truncatedArrays, disambiguatedPaths }`,
 * `operationDescription` and `nsType` (expanded events), `lsid` and `txnNumber` (events of a
 * multi-document transaction only), `splitEvent { fragment, of }` ($changeStreamSplitLargeEvent).
 */
import {
  asDateMillis,
  asDocument,
  asInteger,
  asString,
  asTimestamp,
  buildDocument,
  el,
  elements,
  field,
  type RawElement,
  type Timestamp,
} from './bson-raw.js';

/** What the stream needs of one event to group it, place it, and resume after it. */
export interface EventInfo {
  readonly op: string;
  readonly clusterTime: Timestamp;
  /** Milliseconds since the epoch (the server's clock), when the server sends wallTime. */
  readonly wallTimeMs?: bigint;
  /** The resume token's `_data`, upper case. */
  readonly token: string;
  readonly db?: string;
  readonly coll?: string;
  readonly toDb?: string;
  readonly toColl?: string;
  /** The multi-document transaction's session id document and number; absent outside one. */
  readonly lsid?: Uint8Array;
  readonly txnNumber?: bigint;
  readonly split?: { readonly fragment: number; readonly of: number };
}

export class EventFormatError extends Error {}

export function eventInfo(event: Uint8Array): EventInfo {
  const op = asString(field(event, 'operationType'));
  const clusterTime = asTimestamp(field(event, 'clusterTime'));
  const id = asDocument(field(event, '_id'));
  const token = id ? asString(field(id, '_data')) : undefined;
  if (!op || !clusterTime || !token)
    throw new EventFormatError(
      'a change event without operationType, clusterTime or a resume token {_data: "<hex>"} (servers before 4.2 are not supported)',
    );
  const ns = asDocument(field(event, 'ns'));
  const to = asDocument(field(event, 'to'));
  const lsid = asDocument(field(event, 'lsid'));
  const txnNumber = asInteger(field(event, 'txnNumber'));
  const wallTimeMs = asDateMillis(field(event, 'wallTime'));
  const split = asDocument(field(event, 'splitEvent'));
  const pick = (d: Uint8Array | undefined, n: string): string | undefined =>
    d ? asString(field(d, n)) : undefined;
  const out: { -readonly [K in keyof EventInfo]?: EventInfo[K] } = {
    op,
    clusterTime,
    token: token.toUpperCase(),
  };
  const db = pick(ns, 'db');
  const coll = pick(ns, 'coll');
  const toDb = pick(to, 'db');
  const toColl = pick(to, 'coll');
  if (db !== undefined) out.db = db;
  if (coll !== undefined) out.coll = coll;
  if (toDb !== undefined) out.toDb = toDb;
  if (toColl !== undefined) out.toColl = toColl;
  if (lsid && txnNumber !== undefined) {
    out.lsid = lsid;
    out.txnNumber = txnNumber;
  }
  if (wallTimeMs !== undefined) out.wallTimeMs = wallTimeMs;
  if (split)
    out.split = {
      fragment: Number(asInteger(field(split, 'fragment')) ?? 0n),
      of: Number(asInteger(field(split, 'of')) ?? 0n),
    };
  return out as EventInfo;
}

/**
 * The fragments of one event split by `$changeStreamSplitLargeEvent` (each holds some of its
 * top-level fields, in order), joined back into the event. The last fragment's `_id` is kept: it
 * resumes after the whole event.
 */
export function joinFragments(fragments: readonly Uint8Array[]): Uint8Array {
  const seen = new Set<string>();
  const items: RawElement[] = [];
  fragments.forEach((f, n) => {
    for (const e of elements(f)) {
      if (e.name === 'splitEvent') continue;
      if (e.name === '_id') {
        if (n === fragments.length - 1) items.unshift(e);
        continue;
      }
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      items.push(e);
    }
  });
  return buildDocument(items);
}

/** The record (payload.ts) of one event of the source database: the fields replay needs, as bytes. */
export function recordOf(event: Uint8Array, info: EventInfo = eventInfo(event)): Uint8Array {
  const items: RawElement[] = [el.string('op', info.op), el.timestamp('ct', info.clusterTime)];
  if (info.coll !== undefined) items.push(el.string('coll', info.coll));
  const keep = (from: string, to: string): void => {
    const e = field(event, from);
    if (e && (e.type === 0x03 || e.type === 0x04)) items.push(el.renamed(to, e));
  };
  keep('documentKey', 'key');
  if (info.op === 'insert' || info.op === 'replace') keep('fullDocument', 'doc');
  if (info.op === 'update') keep('updateDescription', 'upd');
  keep('operationDescription', 'desc');
  const nsType = asString(field(event, 'nsType'));
  if (nsType !== undefined) items.push(el.string('nsType', nsType));
  // a rename names the database it came from: one renamed INTO the source database from another
  // brings documents the log never saw
  if (info.op === 'rename' && info.db !== undefined) items.push(el.string('db', info.db));
  if (info.toDb !== undefined) items.push(el.string('toDb', info.toDb));
  if (info.toColl !== undefined) items.push(el.string('toColl', info.toColl));
  return buildDocument(items);
}

/** Whether two events belong to the same multi-document transaction. */
export function sameTransaction(a: EventInfo, b: EventInfo): boolean {
  if (!a.lsid || !b.lsid || a.txnNumber !== b.txnNumber) return false;
  return Buffer.from(a.lsid).equals(Buffer.from(b.lsid));
}
