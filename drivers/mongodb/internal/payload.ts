/**
 * Payload of one MongoDB transaction part, format `mongodb-changes/1`: BSON documents one after
 * the other (each starts with its own int32 length), never converted to JavaScript values.
 *
 *   header  { format: "mongodb-changes/1", db: <source database>, part: int32, internal: bool,
 *             clusterTime: Timestamp, [lsid: { id: UUID, … }], [txnNumber: int64] }
 *   record  one per change event of the source database, in stream order:
 *           { op: <operationType>, ct: Timestamp, [coll: string],
 *             [key: documentKey], [doc: fullDocument],            insert, replace (doc), update, delete (key)
 *             [upd: updateDescription],                           update: updatedFields, removedFields,
 *                                                                 truncatedArrays, disambiguatedPaths
 *             [desc: operationDescription], [nsType: string],     create, createIndexes, dropIndexes,
 *                                                                 modify, rename (dropTarget, to)
 *             [db: string, toDb: string, toColl: string] }        rename: from db.coll to toDb.toColl
 *
 * `op` is the change event's operationType as the server wrote it (insert, update, replace,
 * delete, drop, dropDatabase, rename, create, createIndexes, dropIndexes, modify, invalidate,
 * shardCollection, …). Every value that comes from the source (documents, keys, field values,
 * index and collection options) is the event's own bytes. `lsid`/`txnNumber` are those of the
 * multi-document transaction the part belongs to; `clusterTime` is the transaction's (its first
 * event's) cluster time, the position's pair.
 */
import { concatBytes } from '../../../src/util/bytes.js';
import {
  asBool,
  asDocument,
  asInteger,
  asString,
  asTimestamp,
  buildDocument,
  el,
  elements,
  field,
  splitDocuments,
  type RawElement,
  type Timestamp,
} from './bson-raw.js';

export const PAYLOAD_FORMAT = 'mongodb-changes/1';

/** The record `op`s that change documents: a part's `changes`, and the rows `log` counts. */
export const ROW_OPS: ReadonlySet<string> = new Set(['insert', 'update', 'replace', 'delete']);

export interface PayloadHeader {
  readonly db: string;
  readonly part: number;
  /** Written by crm-backup itself (an idle marker), not by the application. */
  readonly internal: boolean;
  readonly clusterTime: Timestamp;
  /** The session id document of a multi-document transaction, as the event carried it. */
  readonly lsid?: Uint8Array;
  readonly txnNumber?: bigint;
}

/** One stored change, its fields as bytes. */
export interface ChangeRecord {
  readonly op: string;
  readonly ct: Timestamp;
  readonly coll?: string;
  readonly key?: Uint8Array;
  readonly doc?: Uint8Array;
  readonly upd?: Uint8Array;
  readonly desc?: Uint8Array;
  readonly nsType?: string;
  /** rename: the database the collection was in. */
  readonly db?: string;
  readonly toDb?: string;
  readonly toColl?: string;
  /** The record's own bytes. */
  readonly raw: Uint8Array;
}

export function encodeHeader(h: PayloadHeader): Uint8Array {
  const items: RawElement[] = [
    el.string('format', PAYLOAD_FORMAT),
    el.string('db', h.db),
    el.int32('part', h.part),
    el.bool('internal', h.internal),
    el.timestamp('clusterTime', h.clusterTime),
  ];
  if (h.lsid) items.push(el.document('lsid', h.lsid));
  if (h.txnNumber !== undefined) items.push(el.int64('txnNumber', h.txnNumber));
  return buildDocument(items);
}

export function encodePayload(h: PayloadHeader, records: readonly Uint8Array[]): Uint8Array {
  return concatBytes([encodeHeader(h), ...records]);
}

class PayloadError extends Error {}

export function decodeHeader(payload: Uint8Array): PayloadHeader {
  const first = splitDocuments(payload).next();
  if (first.done) throw new PayloadError('empty mongodb payload');
  const doc = first.value;
  const format = asString(field(doc, 'format'));
  if (format !== PAYLOAD_FORMAT)
    throw new PayloadError(
      `payload format is ${JSON.stringify(format)}; this driver reads ${PAYLOAD_FORMAT}`,
    );
  const clusterTime = asTimestamp(field(doc, 'clusterTime'));
  if (!clusterTime) throw new PayloadError('payload header has no clusterTime');
  const lsid = asDocument(field(doc, 'lsid'));
  const txnNumber = asInteger(field(doc, 'txnNumber'));
  return {
    db: asString(field(doc, 'db')) ?? '',
    part: Number(asInteger(field(doc, 'part')) ?? 0n),
    internal: asBool(field(doc, 'internal')) ?? false,
    clusterTime,
    ...(lsid ? { lsid } : {}),
    ...(txnNumber === undefined ? {} : { txnNumber }),
  };
}

export function readRecord(raw: Uint8Array): ChangeRecord {
  let op: string | undefined;
  let ct: Timestamp | undefined;
  const out: { -readonly [K in keyof ChangeRecord]?: ChangeRecord[K] } = { raw };
  for (const e of elements(raw)) {
    switch (e.name) {
      case 'op':
        op = asString(e);
        break;
      case 'ct':
        ct = asTimestamp(e);
        break;
      case 'coll':
      case 'db':
      case 'nsType':
      case 'toDb':
      case 'toColl':
        out[e.name] = asString(e);
        break;
      case 'key':
      case 'doc':
      case 'upd':
      case 'desc':
        out[e.name] = asDocument(e);
        break;
      default:
        break; // a newer writer's extra field: the format version guards meaning, not presence
    }
  }
  if (!op || !ct) throw new PayloadError('a mongodb change record has no op or ct');
  return { ...out, op, ct, raw };
}

/** The header and the change records of one part. */
export function decodePayload(payload: Uint8Array): { header: PayloadHeader; records: ChangeRecord[] } {
  const header = decodeHeader(payload);
  const records: ChangeRecord[] = [];
  let first = true;
  for (const doc of splitDocuments(payload)) {
    if (first) {
      first = false;
      continue;
    }
    records.push(readRecord(doc));
  }
  return { header, records };
}

/** The records alone, lazily (listing reads only `op` and `coll`). */
export function* payloadRecords(payload: Uint8Array): Generator<Uint8Array> {
  let first = true;
  for (const doc of splitDocuments(payload)) {
    if (first) first = false;
    else yield doc;
  }
}
