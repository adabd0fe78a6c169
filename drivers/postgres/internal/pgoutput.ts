/**
 * Decoder for the pgoutput logical replication protocol, version 1 (PostgreSQL docs, "Logical
 * Replication Message Formats"). One XLogData frame carries exactly one pgoutput message, and
 * node-postgres reassembles CopyData frames split across TCP reads, so decoding works on whole
 * messages. Everything returned is copied out of the input: pg-protocol reuses its read buffer.
 */

/** Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01 00:00:00 UTC). */
export const PG_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;

const INT8 = 1;
const INT16 = 2;
const INT32 = 4;
const INT64 = 8;
/** Truncate option bits. */
const TRUNCATE_CASCADE = 1;
const TRUNCATE_RESTART_IDENTITY = 2;
/** Relation column flag: the column is part of the replica identity key. */
const COLUMN_FLAG_KEY = 1;
/** Message flag: the logical decoding message was emitted transactionally. */
const MESSAGE_FLAG_TRANSACTIONAL = 1;

/** A column value: text, null, unchanged TOAST (`{ unchanged: true }`) or binary bytes. */
export type TupleValue = string | null | { readonly unchanged: true } | Uint8Array;
export const UNCHANGED_TOAST: { readonly unchanged: true } = Object.freeze({ unchanged: true });

export interface RelationColumn {
  readonly name: string;
  readonly isKey: boolean;
  readonly typeOid: number;
  readonly typmod: number;
}

export type PgOutputMessage =
  | { readonly tag: 'begin'; readonly finalLsn: bigint; readonly commitTime: bigint; readonly xid: number }
  | {
      readonly tag: 'commit';
      readonly flags: number;
      readonly commitLsn: bigint;
      readonly endLsn: bigint;
      readonly commitTime: bigint;
    }
  | { readonly tag: 'origin'; readonly originLsn: bigint; readonly name: string }
  | {
      readonly tag: 'relation';
      readonly relationId: number;
      readonly namespace: string;
      readonly name: string;
      /** `d` default, `n` nothing, `f` full, `i` index. */
      readonly replicaIdentity: string;
      readonly columns: readonly RelationColumn[];
    }
  | { readonly tag: 'type'; readonly typeOid: number; readonly namespace: string; readonly name: string }
  | { readonly tag: 'insert'; readonly relationId: number; readonly newRow: TupleValue[] }
  | {
      readonly tag: 'update';
      readonly relationId: number;
      /** `K` old key columns only, `O` whole old row, undefined when the key did not change. */
      readonly oldKind: 'K' | 'O' | undefined;
      readonly oldRow: TupleValue[] | undefined;
      readonly newRow: TupleValue[];
    }
  | { readonly tag: 'delete'; readonly relationId: number; readonly oldKind: 'K' | 'O'; readonly oldRow: TupleValue[] }
  | {
      readonly tag: 'truncate';
      readonly cascade: boolean;
      readonly restartIdentity: boolean;
      readonly relationIds: number[];
    }
  | {
      readonly tag: 'message';
      readonly transactional: boolean;
      readonly lsn: bigint;
      readonly prefix: string;
      readonly content: Uint8Array;
    };

/** Sequential big-endian reader that fails with a clear message instead of reading past the end. */
class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}
  private need(n: number, what: string): void {
    if (this.offset + n > this.buf.length) {
      throw new Error(
        `pgoutput message is truncated: needed ${n} bytes for ${what} at offset ${this.offset} of ${this.buf.length}.`,
      );
    }
  }
  u8(what: string): number {
    this.need(INT8, what);
    return this.buf.readUInt8(this.offset++);
  }
  i16(what: string): number {
    this.need(INT16, what);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += INT16;
    return v;
  }
  i32(what: string): number {
    this.need(INT32, what);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += INT32;
    return v;
  }
  u32(what: string): number {
    this.need(INT32, what);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += INT32;
    return v;
  }
  i64(what: string): bigint {
    this.need(INT64, what);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += INT64;
    return v;
  }
  u64(what: string): bigint {
    this.need(INT64, what);
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += INT64;
    return v;
  }
  cstring(what: string): string {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) throw new Error(`pgoutput message is truncated: ${what} has no terminating zero byte.`);
    const s = this.buf.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return s;
  }
  text(n: number, what: string): string {
    this.need(n, what);
    const s = this.buf.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    // a copy: the caller's buffer is reused by the protocol parser
    const b = Uint8Array.prototype.slice.call(this.buf, this.offset, this.offset + n);
    this.offset += n;
    return b;
  }
  char(what: string): string {
    return String.fromCharCode(this.u8(what));
  }
  done(kind: string): void {
    if (this.offset !== this.buf.length) {
      throw new Error(`pgoutput ${kind} message has ${this.buf.length - this.offset} unexpected trailing bytes.`);
    }
  }
}

/** PostgreSQL timestamps count µs since 2000-01-01; contracts use µs since the Unix epoch. */
export function pgMicrosToUnixMicros(pg: bigint): bigint {
  return pg + PG_EPOCH_OFFSET_MICROS;
}

function tuple(r: Reader): TupleValue[] {
  const n = r.i16('tuple column count');
  const values: TupleValue[] = new Array<TupleValue>(n);
  for (let i = 0; i < n; i++) {
    const kind = r.char('tuple column kind');
    switch (kind) {
      case 'n':
        values[i] = null;
        break;
      case 'u':
        values[i] = UNCHANGED_TOAST;
        break;
      case 't':
        values[i] = r.text(r.u32('text value length'), 'text value');
        break;
      case 'b':
        values[i] = r.bytes(r.u32('binary value length'), 'binary value');
        break;
      default:
        throw new Error(`pgoutput tuple column ${i} has unknown kind "${kind}"; expected n, u, t or b.`);
    }
  }
  return values;
}

function oldKind(r: Reader, what: string): 'K' | 'O' {
  const k = r.char(what);
  if (k !== 'K' && k !== 'O') throw new Error(`pgoutput ${what} is "${k}"; expected K or O.`);
  return k;
}

/** Decodes one pgoutput message (the data of one XLogData frame). Throws on unknown types. */
export function decodePgOutput(buf: Buffer): PgOutputMessage {
  const r = new Reader(buf);
  const type = r.char('message type');
  let msg: PgOutputMessage;
  switch (type) {
    case 'B':
      msg = {
        tag: 'begin',
        finalLsn: r.u64('final LSN'),
        commitTime: pgMicrosToUnixMicros(r.i64('commit time')),
        xid: r.u32('xid'),
      };
      break;
    case 'C':
      msg = {
        tag: 'commit',
        flags: r.u8('commit flags'),
        commitLsn: r.u64('commit LSN'),
        endLsn: r.u64('end LSN'),
        commitTime: pgMicrosToUnixMicros(r.i64('commit time')),
      };
      break;
    case 'O':
      msg = { tag: 'origin', originLsn: r.u64('origin LSN'), name: r.cstring('origin name') };
      break;
    case 'R': {
      const relationId = r.u32('relation id');
      const namespace = r.cstring('namespace');
      const name = r.cstring('relation name');
      const replicaIdentity = r.char('replica identity');
      const n = r.i16('column count');
      const columns: RelationColumn[] = [];
      for (let i = 0; i < n; i++) {
        const flags = r.u8('column flags');
        columns.push({
          isKey: (flags & COLUMN_FLAG_KEY) !== 0,
          name: r.cstring('column name'),
          typeOid: r.u32('column type'),
          typmod: r.i32('column type modifier'),
        });
      }
      msg = { tag: 'relation', relationId, namespace, name, replicaIdentity, columns };
      break;
    }
    case 'Y':
      msg = { tag: 'type', typeOid: r.u32('type oid'), namespace: r.cstring('type namespace'), name: r.cstring('type name') };
      break;
    case 'I': {
      const relationId = r.u32('relation id');
      const n = r.char('insert tuple marker');
      if (n !== 'N') throw new Error(`pgoutput insert tuple marker is "${n}"; expected N.`);
      msg = { tag: 'insert', relationId, newRow: tuple(r) };
      break;
    }
    case 'U': {
      const relationId = r.u32('relation id');
      let marker = r.char('update tuple marker');
      let old: 'K' | 'O' | undefined;
      let oldRow: TupleValue[] | undefined;
      if (marker === 'K' || marker === 'O') {
        old = marker;
        oldRow = tuple(r);
        marker = r.char('update new tuple marker');
      }
      if (marker !== 'N') throw new Error(`pgoutput update tuple marker is "${marker}"; expected K, O or N.`);
      msg = { tag: 'update', relationId, oldKind: old, oldRow, newRow: tuple(r) };
      break;
    }
    case 'D': {
      const relationId = r.u32('relation id');
      const kind = oldKind(r, 'delete tuple marker');
      msg = { tag: 'delete', relationId, oldKind: kind, oldRow: tuple(r) };
      break;
    }
    case 'T': {
      const n = r.u32('truncated relation count');
      const options = r.u8('truncate options');
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.u32('truncated relation id'));
      msg = {
        tag: 'truncate',
        cascade: (options & TRUNCATE_CASCADE) !== 0,
        restartIdentity: (options & TRUNCATE_RESTART_IDENTITY) !== 0,
        relationIds,
      };
      break;
    }
    case 'M': {
      const flags = r.u8('message flags');
      const lsn = r.u64('message LSN');
      const prefix = r.cstring('message prefix');
      const content = r.bytes(r.u32('message length'), 'message content');
      msg = { tag: 'message', transactional: (flags & MESSAGE_FLAG_TRANSACTIONAL) !== 0, lsn, prefix, content };
      break;
    }
    default:
      throw new Error(
        `pgoutput message type "${type}" (0x${(type.charCodeAt(0) || 0).toString(16)}) is not supported; this decoder speaks protocol version 1 without streaming.`,
      );
  }
  r.done(msg.tag);
  return msg;
}
