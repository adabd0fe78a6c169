import { crc32 } from './crc32.js';
import { mariadbUncompress, zstdUncompress } from './compression.js';
import { BinlogFormatError, MalformedEvent } from './errors.js';
import { readGtidList, readMariadbGtid, readMysqlGtid, readPreviousGtids, readTaggedGtid } from './gtid.js';
import { readQueryStatus } from './query.js';
import { ByteReader } from './reader.js';
import { decodeRowsBody, type RowsOperation } from './rows.js';
import { decodeTableMap } from './table-map.js';
import {
  EventType,
  type BinlogEvent,
  type EventHeader,
  type FormatDescriptionEvent,
  type TableHints,
  type TableMapEvent,
} from './types.js';

/**
 * Decodes whole binlog events, one at a time, as a file or a replication stream gives them
 * (v4 header first, CRC32 last when the FORMAT_DESCRIPTION says so, no protocol OK byte). It
 * keeps what later events need: the FORMAT_DESCRIPTION (checksum, post-header lengths), the
 * TABLE_MAPs by table id, and the current file name (a ROTATE names the next one).
 *
 * Integer signedness comes from the TABLE_MAP's optional metadata (binlog_row_metadata=FULL),
 * else from `hints`, else the column is read as signed.
 */

export const EVENT_HEADER_LENGTH = 19;
const CHECKSUM_LENGTH = 4;
const FDE_SERVER_VERSION_LENGTH = 50;
/** Header flag of FORMAT_DESCRIPTION while its file is open; cleared before the CRC is computed. */
const LOG_EVENT_BINLOG_IN_USE_F = 0x1;
const STMT_END_F = 0x1;
const CHECKSUM_OFF = 0;
const CHECKSUM_CRC32 = 1;
/** Table id of MySQL's dummy rows event that only ends a statement. */
const DUMMY_TABLE_IDS = new Set([0xff_ffffn, 0xffff_ffff_ffffn]);
const PAYLOAD_FIELD = { END: 0n, SIZE: 1n, COMPRESSION: 2n, UNCOMPRESSED_SIZE: 3n } as const;
const PAYLOAD_ZSTD = 0n;
const PAYLOAD_NONE = 255n;
const HEARTBEAT_FIELD = { END: 0n, FILE: 1n, POSITION: 2n } as const;

const EVENT_NAMES = new Map<number, string>(Object.entries(EventType).map(([name, code]) => [code, name]));
export function eventName(type: number): string {
  return EVENT_NAMES.get(type) ?? `event type ${type}`;
}

/** v4 post-header lengths used until a FORMAT_DESCRIPTION says otherwise. */
const DEFAULT_POST_HEADER: Readonly<Record<number, number>> = {
  [EventType.QUERY]: 13,
  [EventType.ROTATE]: 8,
  [EventType.FORMAT_DESCRIPTION]: 84,
  [EventType.TABLE_MAP]: 8,
  [EventType.WRITE_ROWS_V1]: 8,
  [EventType.UPDATE_ROWS_V1]: 8,
  [EventType.DELETE_ROWS_V1]: 8,
  [EventType.WRITE_ROWS_V2]: 10,
  [EventType.UPDATE_ROWS_V2]: 10,
  [EventType.DELETE_ROWS_V2]: 10,
  [EventType.PARTIAL_UPDATE_ROWS]: 10,
  [EventType.MARIADB_QUERY_COMPRESSED]: 13,
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1]: 8,
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1]: 8,
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1]: 8,
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED]: 10,
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED]: 10,
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED]: 10,
};

const ROWS_EVENTS: Readonly<Record<number, { op: RowsOperation; v2: boolean; compressed: boolean; partial?: boolean }>> = {
  [EventType.WRITE_ROWS_V1]: { op: 'insert', v2: false, compressed: false },
  [EventType.UPDATE_ROWS_V1]: { op: 'update', v2: false, compressed: false },
  [EventType.DELETE_ROWS_V1]: { op: 'delete', v2: false, compressed: false },
  [EventType.WRITE_ROWS_V2]: { op: 'insert', v2: true, compressed: false },
  [EventType.UPDATE_ROWS_V2]: { op: 'update', v2: true, compressed: false },
  [EventType.DELETE_ROWS_V2]: { op: 'delete', v2: true, compressed: false },
  [EventType.PARTIAL_UPDATE_ROWS]: { op: 'update', v2: true, compressed: false, partial: true },
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED_V1]: { op: 'insert', v2: false, compressed: true },
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED_V1]: { op: 'update', v2: false, compressed: true },
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED_V1]: { op: 'delete', v2: false, compressed: true },
  [EventType.MARIADB_WRITE_ROWS_COMPRESSED]: { op: 'insert', v2: true, compressed: true },
  [EventType.MARIADB_UPDATE_ROWS_COMPRESSED]: { op: 'update', v2: true, compressed: true },
  [EventType.MARIADB_DELETE_ROWS_COMPRESSED]: { op: 'delete', v2: true, compressed: true },
};

interface Format {
  readonly checksum: 'none' | 'crc32';
  readonly postHeader: readonly number[];
  readonly flavor: 'mysql' | 'mariadb';
}

export interface BinlogDecoderOptions {
  /** Name of the file (or stream) the events come from, for events and error messages. */
  readonly file?: string;
  /** Column names and signedness where the TABLE_MAP does not carry them (binlog_row_metadata=MINIMAL). */
  readonly hints?: (database: string, table: string) => TableHints | undefined;
  /**
   * Whether a ROTATE changes the current file name (default true: a replication stream). A
   * reader of one file sets it false: a relay log's ROTATE names the source's file, not itself.
   */
  readonly followRotate?: boolean;
}

export class BinlogDecoder {
  private fileName: string | undefined;
  private format: Format | undefined;
  private readonly tables = new Map<bigint, TableMapEvent>();
  private readonly hints: BinlogDecoderOptions['hints'];
  private readonly followRotate: boolean;

  constructor(opts?: BinlogDecoderOptions) {
    this.fileName = opts?.file;
    this.hints = opts?.hints;
    this.followRotate = opts?.followRotate ?? true;
  }

  /** The file events are attributed to (updated by ROTATE when following rotates). */
  get file(): string | undefined {
    return this.fileName;
  }

  /** Whether events end with a CRC32, as the last FORMAT_DESCRIPTION says (undefined before one). */
  get checksum(): 'none' | 'crc32' | undefined {
    return this.format?.checksum;
  }

  /** Decodes one whole event that starts at `offset` of the current file. */
  decode(event: Buffer, offset: number): BinlogEvent[] {
    const file = this.fileName ?? '(binlog stream)';
    try {
      return this.decodeEvent(event, offset, true);
    } catch (err) {
      if (err instanceof MalformedEvent) throw new BinlogFormatError({ file, offset, reason: err.reason });
      if (err instanceof RangeError) {
        throw new BinlogFormatError({ file, offset, reason: `${describe(event)} is malformed: ${err.message}.` }, { cause: err });
      }
      throw err;
    }
  }

  private decodeEvent(event: Buffer, offset: number, outer: boolean): BinlogEvent[] {
    if (event.length < EVENT_HEADER_LENGTH) {
      throw new MalformedEvent(`event is ${event.length} bytes long, shorter than the ${EVENT_HEADER_LENGTH}-byte event header.`);
    }
    const header: EventHeader = {
      timestamp: event.readUInt32LE(0),
      type: event[4]!,
      serverId: event.readUInt32LE(5),
      eventSize: event.readUInt32LE(9),
      nextPosition: event.readUInt32LE(13),
      flags: event.readUInt16LE(17),
    };
    const name = eventName(header.type);
    if (header.eventSize !== event.length) {
      throw new MalformedEvent(
        `${name} event is ${event.length} bytes long, ${header.eventSize > event.length ? 'shorter' : 'longer'} than its header says (${header.eventSize}).`,
      );
    }
    const base = { header, offset, ...(this.fileName !== undefined ? { file: this.fileName } : {}) };

    if (header.type === EventType.FORMAT_DESCRIPTION) return [this.formatDescription(event, base)];

    // events inside a TRANSACTION_PAYLOAD carry no checksum of their own
    let end = event.length;
    if (outer && this.checksumPresent(event)) {
      end -= CHECKSUM_LENGTH;
      verifyChecksum(event, end, name);
    }
    const r = new ByteReader(event, `${name} event`, EVENT_HEADER_LENGTH, end);
    const postHeader = this.postHeaderLength(header.type);

    const rows = ROWS_EVENTS[header.type];
    if (rows) return [this.rowsEvent(r, base, rows, postHeader, name)];

    switch (header.type) {
      case EventType.ROTATE: {
        const nextPosition = postHeader >= 8 ? r.u64('the position') : 4n;
        r.skip(Math.max(0, postHeader - 8), 'the post-header');
        const nextFile = r.rest().toString('utf8');
        if (this.followRotate) this.fileName = nextFile;
        return [{ ...base, kind: 'rotate', nextFile, nextPosition }];
      }
      case EventType.QUERY:
      case EventType.MARIADB_QUERY_COMPRESSED: {
        const threadId = r.u32('the thread id');
        const executionSeconds = r.u32('the execution time');
        const dbLength = r.u8('the database name length');
        const errorCode = r.u16('the error code');
        const statusLength = postHeader >= 13 ? r.u16('the status variables length') : 0;
        r.skip(Math.max(0, postHeader - 13), 'the post-header');
        r.need(statusLength, 'the status variables');
        const status = readQueryStatus(new ByteReader(event, `${name} event status variables`, r.pos, r.pos + statusLength));
        r.skip(statusLength, 'the status variables');
        const database = r.utf8(dbLength, 'the database name');
        r.skip(1, 'the zero after the database name');
        const compressed = header.type === EventType.MARIADB_QUERY_COMPRESSED;
        const text = compressed ? mariadbUncompress(r.rest(), `${name} event statement`) : r.rest();
        const { unknownStatusCode: _unknown, catalog: _catalog, invoker: _invoker, tableMapForUpdate: _t, gtidFlags3: _g, ...known } = status;
        return [
          {
            ...base,
            kind: 'query',
            threadId,
            database,
            sql: text.toString('utf8'),
            errorCode,
            executionSeconds,
            ...known,
            ...(compressed ? { compressed } : {}),
          },
        ];
      }
      case EventType.XID:
        return [{ ...base, kind: 'xid', xid: r.u64('the xid') }];
      case EventType.GTID:
      case EventType.ANONYMOUS_GTID: {
        const { flags, gtid, ...rest } = readMysqlGtid(r, header.type === EventType.ANONYMOUS_GTID);
        return [{ ...base, kind: 'gtid', flavor: 'mysql', gtid, flags, ...rest }];
      }
      case EventType.GTID_TAGGED: {
        const { flags, gtid, ...rest } = readTaggedGtid(r);
        return [{ ...base, kind: 'gtid', flavor: 'mysql', gtid, flags, ...rest }];
      }
      case EventType.MARIADB_GTID: {
        const g = readMariadbGtid(r, header.serverId);
        return [{ ...base, kind: 'gtid', ...g, flavor: 'mariadb' }];
      }
      case EventType.TABLE_MAP: {
        const t = decodeTableMap(r, postHeader, this.hints);
        const ev: TableMapEvent = { ...base, kind: 'table-map', ...t };
        this.tables.set(t.tableId, ev);
        return [ev];
      }
      case EventType.HEARTBEAT:
        return [{ ...base, kind: 'heartbeat', logFile: r.rest().toString('utf8') }];
      case EventType.HEARTBEAT_V2:
        return [{ ...base, kind: 'heartbeat', ...readHeartbeatV2(r) }];
      case EventType.ROWS_QUERY:
        r.skip(1, 'the length byte');
        return [{ ...base, kind: 'annotate-rows', sql: r.rest().toString('utf8') }];
      case EventType.MARIADB_ANNOTATE_ROWS:
        return [{ ...base, kind: 'annotate-rows', sql: r.rest().toString('utf8') }];
      case EventType.MARIADB_GTID_LIST:
        return [{ ...base, kind: 'gtid-list', gtids: readGtidList(r) }];
      case EventType.PREVIOUS_GTIDS:
        return [{ ...base, kind: 'gtid-list', gtids: readPreviousGtids(r) }];
      case EventType.TRANSACTION_PAYLOAD:
        return this.transactionPayload(r, offset, name);
      default:
        return [{ ...base, kind: 'other', name }];
    }
  }

  private postHeaderLength(type: number): number {
    return this.format?.postHeader[type - 1] ?? DEFAULT_POST_HEADER[type] ?? 0;
  }

  /** Before any FORMAT_DESCRIPTION (a stream's first, artificial ROTATE) the CRC itself tells. */
  private checksumPresent(event: Buffer): boolean {
    if (this.format) return this.format.checksum === 'crc32';
    const end = event.length - CHECKSUM_LENGTH;
    return end >= EVENT_HEADER_LENGTH && crc32(event, 0, end) === event.readUInt32LE(end);
  }

  private formatDescription(event: Buffer, base: Omit<FormatDescriptionEvent, 'kind' | 'binlogVersion' | 'serverVersion' | 'checksum'>): FormatDescriptionEvent {
    const r = new ByteReader(event, 'FORMAT_DESCRIPTION event', EVENT_HEADER_LENGTH);
    const binlogVersion = r.u16('the binlog version');
    const serverVersion = r.bytes(FDE_SERVER_VERSION_LENGTH, 'the server version').toString('latin1').replace(/\0.*$/s, '');
    r.skip(4, 'the creation time');
    const headerLength = r.u8('the header length');
    if (headerLength !== EVENT_HEADER_LENGTH) {
      throw new MalformedEvent(`FORMAT_DESCRIPTION says events have ${headerLength}-byte headers; this decoder reads binlog v4 (19 bytes).`);
    }
    const flavor = /mariadb/i.test(serverVersion) ? 'mariadb' : 'mysql';
    let checksum: 'none' | 'crc32' = 'none';
    let tableEnd = event.length;
    if (checksumAware(serverVersion, flavor)) {
      // the algorithm byte and a 4-byte checksum field close every FORMAT_DESCRIPTION of such servers
      tableEnd = event.length - CHECKSUM_LENGTH - 1;
      if (tableEnd < r.pos) throw new MalformedEvent(`FORMAT_DESCRIPTION event is ${event.length} bytes long, too short for its checksum algorithm.`);
      const algorithm = event[tableEnd]!;
      if (algorithm === CHECKSUM_CRC32) {
        checksum = 'crc32';
        const flags = event[17]!;
        const copy = Buffer.from(event);
        copy[17] = flags & ~LOG_EVENT_BINLOG_IN_USE_F;
        verifyChecksum(copy, event.length - CHECKSUM_LENGTH, 'FORMAT_DESCRIPTION');
      } else if (algorithm !== CHECKSUM_OFF && algorithm !== 0xff) {
        throw new MalformedEvent(`FORMAT_DESCRIPTION names checksum algorithm ${algorithm}; MySQL and MariaDB write 0 (none) or 1 (CRC32).`);
      }
    }
    const postHeader = [...r.bytes(tableEnd - r.pos, 'the post-header lengths')];
    this.format = { checksum, postHeader, flavor };
    // table ids are per server run: a new file may reuse them
    this.tables.clear();
    return { ...base, kind: 'format-description', binlogVersion, serverVersion, checksum, flavor };
  }

  private rowsEvent(
    r: ByteReader,
    base: { header: EventHeader; offset: number; file?: string },
    kind: { op: RowsOperation; v2: boolean; compressed: boolean; partial?: boolean },
    postHeader: number,
    name: string,
  ): BinlogEvent {
    const tableId = BigInt(r.uintLE(postHeader === 6 ? 4 : 6, 'the table id'));
    const flags = r.u16('the flags');
    if (kind.v2 && postHeader >= 10) {
      const extra = r.u16('the extra data length');
      if (extra < 2) throw new MalformedEvent(`${name} event has extra data length ${extra}, less than the 2 bytes of the length itself.`);
      r.skip(extra - 2, 'the extra data');
    }
    const table = this.tables.get(tableId);
    if (!table) {
      if (DUMMY_TABLE_IDS.has(tableId) && flags & STMT_END_F) return { ...base, kind: 'other', name: `${name} (end of statement)` };
      throw new MalformedEvent(`${name} event for table id ${tableId} comes without a TABLE_MAP for that id.`);
    }
    const uncompress = kind.compressed
      ? (data: Buffer) => new ByteReader(mariadbUncompress(data, `${name} event rows`), `${name} event rows`)
      : undefined;
    const rows = decodeRowsBody(r, kind.op, table, kind.partial === true, uncompress);
    return {
      ...base,
      kind: 'rows',
      operation: kind.op,
      tableId,
      table,
      rows,
      statementEnd: (flags & STMT_END_F) !== 0,
      flags,
      ...(kind.compressed ? { compressed: true } : {}),
    };
  }

  /** MySQL 8 binlog_transaction_compression: header fields, then the transaction's events, zstd-compressed. */
  private transactionPayload(r: ByteReader, offset: number, name: string): BinlogEvent[] {
    let size: number | undefined;
    let compression = PAYLOAD_NONE;
    let uncompressed: number | undefined;
    for (;;) {
      const field = r.lenenc('a payload header field');
      if (field === PAYLOAD_FIELD.END) break;
      const length = r.lenencSize('a payload header field length');
      const f = new ByteReader(r.buf, `${name} event header field`, r.pos, r.pos + length);
      r.skip(length, 'a payload header field');
      if (field === PAYLOAD_FIELD.SIZE) size = Number(f.lenenc('the payload size'));
      else if (field === PAYLOAD_FIELD.COMPRESSION) compression = f.lenenc('the compression type');
      else if (field === PAYLOAD_FIELD.UNCOMPRESSED_SIZE) uncompressed = Number(f.lenenc('the uncompressed size'));
    }
    const payload = r.bytes(size ?? r.remaining, 'the payload');
    let data: Buffer;
    if (compression === PAYLOAD_ZSTD) data = zstdUncompress(payload, uncompressed, `${name} event payload`);
    else if (compression === PAYLOAD_NONE) data = payload;
    else throw new MalformedEvent(`${name} event is compressed with type ${compression}; MySQL writes 0 (zstd) or 255 (none).`);
    const events: BinlogEvent[] = [];
    let pos = 0;
    while (pos < data.length) {
      if (data.length - pos < EVENT_HEADER_LENGTH) {
        throw new MalformedEvent(`${name} event payload ends ${data.length - pos} bytes into an event header.`);
      }
      const size = data.readUInt32LE(pos + 9);
      if (size < EVENT_HEADER_LENGTH || pos + size > data.length) {
        throw new MalformedEvent(`${name} event payload holds an event of ${size} bytes at ${pos}, past its end (${data.length}).`);
      }
      events.push(...this.decodeEvent(data.subarray(pos, pos + size), offset, false));
      pos += size;
    }
    return events;
  }
}

function readHeartbeatV2(r: ByteReader): { logFile: string; logPosition?: bigint } {
  let logFile = '';
  let logPosition: bigint | undefined;
  while (r.remaining > 0) {
    const field = r.lenenc('a heartbeat field');
    if (field === HEARTBEAT_FIELD.END) break;
    const length = r.lenencSize('a heartbeat field length');
    const f = new ByteReader(r.buf, 'HEARTBEAT_V2 event field', r.pos, r.pos + length);
    r.skip(length, 'a heartbeat field');
    if (field === HEARTBEAT_FIELD.FILE) logFile = f.rest().toString('utf8');
    else if (field === HEARTBEAT_FIELD.POSITION) logPosition = f.lenenc('the log position');
  }
  return { logFile, ...(logPosition !== undefined ? { logPosition } : {}) };
}

/** MySQL ≥ 5.6.1 and MariaDB ≥ 5.3 end FORMAT_DESCRIPTION with a checksum algorithm and field. */
function checksumAware(version: string, flavor: 'mysql' | 'mariadb'): boolean {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const v = Number(m[1]) * 10000 + Number(m[2]) * 100 + Number(m[3]);
  return v >= (flavor === 'mariadb' ? 50300 : 50601);
}

function verifyChecksum(event: Buffer, end: number, name: string): void {
  const stored = event.readUInt32LE(end);
  const computed = crc32(event, 0, end);
  if (stored !== computed) {
    throw new MalformedEvent(
      `${name} event has CRC32 ${hex(stored)}, its bytes give ${hex(computed)}: the event is damaged.`,
    );
  }
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

function describe(event: Buffer): string {
  return event.length > 4 ? `${eventName(event[4]!)} event` : 'event';
}
