/**
 * Change events into stored transactions. One stored transaction is:
 *  - the events of one multi-document transaction (same `lsid` and `txnNumber`), which arrive
 *    one after the other, possibly over several consecutive cluster times (a large transaction
 *    takes several oplog entries); or
 *  - the events outside a transaction that share one cluster time (one oplog entry: a batched
 *    write of several documents, MongoDB 8.0+), or a single event.
 *
 * A group is complete when an event that does not belong to it arrives, or when the stream's
 * post-batch resume token has moved past the group's last cluster time: until then the next
 * batch could still hold more of it. Groups are cut into parts of at most `partMaxBytes` (`more`
 * on all but the last), so memory never holds a whole large transaction.
 *
 * Position of every part of a group: the cluster time of the group's first event, with the
 * resume token of the last event seen so far (the last part's resumes after the whole group).
 * Commit time: the first event's wallTime (ms), or its cluster time's seconds on servers that
 * send no wallTime. Events of other databases (filtered by the server already) are ignored;
 * events of the stream's marker collection make an internal part without records.
 */
import { asDocument, asInteger, field, type Timestamp } from './bson-raw.js';
import { eventInfo, joinFragments, recordOf, sameTransaction, type EventInfo } from './events.js';
import { encodePayload, ROW_OPS } from './payload.js';
import { compareTimestamps, formatPosition, tokenClusterTime } from './position.js';

export const PART_MAX_BYTES = 4 * 1024 * 1024;

export interface AssembledPart {
  readonly position: string;
  readonly commitTime: bigint;
  readonly payload: Uint8Array;
  readonly changes: number;
  readonly tables: readonly string[];
  readonly more: boolean;
}

export interface AssemblerOptions {
  /** The source database: only its events are stored. */
  readonly db: string;
  /** The namespace crm-backup writes its idle markers to. */
  readonly marker?: { readonly db: string; readonly coll: string };
  readonly partMaxBytes?: number;
}

interface Group {
  readonly first: EventInfo;
  last: EventInfo;
  records: Uint8Array[];
  bytes: number;
  changes: number;
  tables: Set<string>;
  part: number;
  /** Only marker events so far. */
  internal: boolean;
}

export class EventAssembler {
  private group: Group | undefined;
  private fragments: Uint8Array[] = [];
  private readonly partMax: number;

  constructor(private readonly opts: AssemblerOptions) {
    this.partMax = opts.partMaxBytes ?? PART_MAX_BYTES;
  }

  /** True while a group is open (its events are not all stored yet). */
  get open(): boolean {
    return this.group !== undefined || this.fragments.length > 0;
  }

  /** Forgets the open group (a new session sends its events again). */
  reset(): void {
    this.group = undefined;
    this.fragments = [];
  }

  /** Takes one raw event; returns the parts that became ready. */
  push(raw: Uint8Array): AssembledPart[] {
    let event = raw;
    // a fragment after the first holds only some fields (no operationType or clusterTime)
    const split = asDocument(field(raw, 'splitEvent'));
    if (split) {
      this.fragments.push(raw);
      if ((asInteger(field(split, 'fragment')) ?? 0n) < (asInteger(field(split, 'of')) ?? 0n)) return [];
      event = joinFragments(this.fragments);
      this.fragments = [];
    }
    const info = eventInfo(event);
    const out: AssembledPart[] = [];
    const g = this.group;
    if (g && !this.belongs(g, info)) {
      out.push(this.emit(g, false));
      this.group = undefined;
    }
    this.add(event, info, out);
    return out;
  }

  /**
   * The post-batch resume token `_data` after a batch: completes the open group when its cluster
   * time has moved past the group's last event.
   */
  advance(postBatchToken: string): AssembledPart[] {
    const g = this.group;
    const ts = tokenClusterTime(postBatchToken);
    if (!g || !ts || compareTimestamps(ts, g.last.clusterTime) <= 0) return [];
    this.group = undefined;
    return [this.emit(g, false)];
  }

  private belongs(g: Group, e: EventInfo): boolean {
    if (g.first.lsid) return sameTransaction(g.first, e);
    return !e.lsid && compareTimestamps(g.first.clusterTime, e.clusterTime) === 0;
  }

  private isMarker(e: EventInfo): boolean {
    const m = this.opts.marker;
    return !!m && e.db === m.db && e.coll === m.coll;
  }

  private mine(e: EventInfo): boolean {
    return e.db === this.opts.db || (e.op === 'rename' && e.toDb === this.opts.db) || e.op === 'invalidate';
  }

  private add(event: Uint8Array, info: EventInfo, out: AssembledPart[]): void {
    const marker = this.isMarker(info);
    if (!marker && !this.mine(info)) return;
    let g = this.group;
    if (!g) {
      g = {
        first: info,
        last: info,
        records: [],
        bytes: 0,
        changes: 0,
        tables: new Set(),
        part: 0,
        internal: true,
      };
      this.group = g;
    }
    g.last = info;
    if (marker) return;
    g.internal = false;
    const record = recordOf(event, info);
    if (g.records.length > 0 && g.bytes + record.byteLength > this.partMax) {
      out.push(this.emit(g, true));
      g.records = [];
      g.bytes = 0;
      g.changes = 0;
      g.tables = new Set();
    }
    g.records.push(record);
    g.bytes += record.byteLength;
    if (ROW_OPS.has(info.op)) g.changes++;
    if (info.coll !== undefined && info.db === this.opts.db) g.tables.add(info.coll);
    if (info.op === 'rename' && info.toDb === this.opts.db && info.toColl !== undefined)
      g.tables.add(info.toColl);
  }

  private emit(g: Group, more: boolean): AssembledPart {
    const ts: Timestamp = g.first.clusterTime;
    const payload = encodePayload(
      {
        db: this.opts.db,
        part: g.part++,
        internal: g.internal,
        clusterTime: ts,
        ...(g.first.lsid ? { lsid: g.first.lsid, txnNumber: g.first.txnNumber ?? 0n } : {}),
      },
      g.records,
    );
    return {
      position: formatPosition({ ts, token: g.last.token }),
      commitTime: commitMicros(g.first),
      payload,
      changes: g.changes,
      tables: [...g.tables],
      more,
    };
  }
}

export function commitMicros(e: EventInfo): bigint {
  return e.wallTimeMs !== undefined ? e.wallTimeMs * 1000n : BigInt(e.clusterTime.t) * 1_000_000n;
}
