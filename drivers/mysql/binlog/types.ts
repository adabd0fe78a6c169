/**
 * What the binlog decoder (this folder) hands to the rest of the MySQL/MariaDB driver: decoded
 * events and column values. This file is the contract between the decoder and its users (the
 * change log, which assembles transactions, and the tests); it holds types and constants only.
 *
 * Values. A row image is an array indexed by column number (the table's column order in the
 * TABLE_MAP event), one entry per column of the table:
 *
 *   NOT_LOGGED  the column is not in this image (binlog_row_image=MINIMAL/NOBLOB, or the column
 *               bitmap left it out). Never confused with SQL NULL.
 *   null        SQL NULL.
 *   bigint      every integer type (TINYINT … BIGINT, MEDIUMINT), signed or unsigned as the
 *               column is (so BIGINT UNSIGNED 18446744073709551615 is exact), and SET (bit mask).
 *   number      FLOAT and DOUBLE as decoded (a FLOAT is its float32 value widened; -0 stays -0);
 *               YEAR (e.g. 2026, or 0 for the zero year); ENUM (1-based index, 0 = the '' error
 *               value). What a number means is told by the column's `type`.
 *   string      DECIMAL ("-123.4500", as many fractional digits as the scale); DATE
 *               ("2026-12-05", zero dates "0000-00-00" kept); TIME ("-838:59:59.000000", as many
 *               fractional digits as the column's fsp); DATETIME ("2026-12-05 14:02:59.123456");
 *               TIMESTAMP in UTC in the same form ("0000-00-00 00:00:00" for the zero timestamp);
 *               MySQL binary JSON as JSON text.
 *   Buffer      CHAR, VARCHAR, BINARY, VARBINARY, TEXT and BLOB of every length class (the bytes as
 *               stored, in the column's charset: never converted), BIT (big-endian bytes,
 *               ceil(M/8) of them), GEOMETRY (MySQL's internal form: 4-byte SRID + WKB), MariaDB's
 *               JSON (a LONGTEXT), VECTOR.
 */

/** A column absent from a row image: not the same as SQL NULL. */
export const NOT_LOGGED: unique symbol = Symbol('not logged');
export type NotLogged = typeof NOT_LOGGED;

export type ColumnValue = NotLogged | null | bigint | number | string | Buffer;
export type RowImage = readonly ColumnValue[];

/** MySQL column type codes (enum_field_types), as written in TABLE_MAP events. */
export const ColumnType = {
  DECIMAL: 0,
  TINY: 1,
  SHORT: 2,
  LONG: 3,
  FLOAT: 4,
  DOUBLE: 5,
  NULL: 6,
  TIMESTAMP: 7,
  LONGLONG: 8,
  INT24: 9,
  DATE: 10,
  TIME: 11,
  DATETIME: 12,
  YEAR: 13,
  NEWDATE: 14,
  VARCHAR: 15,
  BIT: 16,
  TIMESTAMP2: 17,
  DATETIME2: 18,
  TIME2: 19,
  TYPED_ARRAY: 20,
  VECTOR: 242,
  INVALID: 243,
  BOOL: 244,
  JSON: 245,
  NEWDECIMAL: 246,
  ENUM: 247,
  SET: 248,
  TINY_BLOB: 249,
  MEDIUM_BLOB: 250,
  LONG_BLOB: 251,
  BLOB: 252,
  VAR_STRING: 253,
  STRING: 254,
  GEOMETRY: 255,
} as const;
export type ColumnTypeCode = (typeof ColumnType)[keyof typeof ColumnType];

/** Binlog event type codes the decoder knows (MySQL's Log_event_type and MariaDB's additions). */
export const EventType = {
  QUERY: 2,
  STOP: 3,
  ROTATE: 4,
  INTVAR: 5,
  RAND: 13,
  USER_VAR: 14,
  FORMAT_DESCRIPTION: 15,
  XID: 16,
  TABLE_MAP: 19,
  WRITE_ROWS_V1: 23,
  UPDATE_ROWS_V1: 24,
  DELETE_ROWS_V1: 25,
  INCIDENT: 26,
  HEARTBEAT: 27,
  ROWS_QUERY: 29,
  WRITE_ROWS_V2: 30,
  UPDATE_ROWS_V2: 31,
  DELETE_ROWS_V2: 32,
  GTID: 33,
  ANONYMOUS_GTID: 34,
  PREVIOUS_GTIDS: 35,
  TRANSACTION_CONTEXT: 36,
  VIEW_CHANGE: 37,
  XA_PREPARE: 38,
  PARTIAL_UPDATE_ROWS: 39,
  TRANSACTION_PAYLOAD: 40,
  HEARTBEAT_V2: 41,
  GTID_TAGGED: 42,
  MARIADB_ANNOTATE_ROWS: 160,
  MARIADB_BINLOG_CHECKPOINT: 161,
  MARIADB_GTID: 162,
  MARIADB_GTID_LIST: 163,
  MARIADB_START_ENCRYPTION: 164,
  MARIADB_QUERY_COMPRESSED: 165,
  MARIADB_WRITE_ROWS_COMPRESSED_V1: 166,
  MARIADB_UPDATE_ROWS_COMPRESSED_V1: 167,
  MARIADB_DELETE_ROWS_COMPRESSED_V1: 168,
  MARIADB_WRITE_ROWS_COMPRESSED: 169,
  MARIADB_UPDATE_ROWS_COMPRESSED: 170,
  MARIADB_DELETE_ROWS_COMPRESSED: 171,
} as const;

/** The 19-byte common header of every event (v4). */
export interface EventHeader {
  /** Seconds since the epoch, when the event (or its statement) was created on the server. */
  readonly timestamp: number;
  readonly type: number;
  readonly serverId: number;
  /** Whole event length, header and checksum included. */
  readonly eventSize: number;
  /** Position of the next event in the same binlog file (0 for artificial events). */
  readonly nextPosition: number;
  readonly flags: number;
}

/** One column as a TABLE_MAP event (and its optional metadata) describes it. */
export interface ColumnInfo {
  readonly type: number;
  /**
   * Type metadata from the TABLE_MAP, decoded. By `type`: FLOAT/DOUBLE the pack length; BLOB,
   * GEOMETRY, JSON, VECTOR the number of length bytes (1–4); VARCHAR, VAR_STRING, STRING the
   * maximum length in bytes; ENUM, SET the pack length in bytes; BIT the number of bits;
   * NEWDECIMAL precision * 256 + scale; TIME2, DATETIME2, TIMESTAMP2 the fsp; 0 otherwise.
   * `type` is the real type: a STRING whose metadata says ENUM or SET is given as ENUM or SET.
   */
  readonly meta: number;
  readonly nullable: boolean;
  /** From optional metadata (binlog_row_metadata=FULL on MySQL 8 / MariaDB ≥ 10.5); else undefined. */
  readonly name?: string;
  readonly unsigned?: boolean;
  /** Collation id of a character column; undefined for binary columns or when not logged. */
  readonly collation?: number;
  readonly enumValues?: readonly Buffer[];
  readonly setValues?: readonly Buffer[];
  /** MySQL ≥ 8.0.23 invisible columns; undefined when not logged. */
  readonly visible?: boolean;
  readonly geometryType?: number;
}

/**
 * Column facts the binlog may not carry (MariaDB's default binlog_row_metadata=NO_LOG has no
 * optional metadata; MINIMAL has signedness but no names): supplied by the caller from the table
 * definition it knows, indexed by column number, used only where the event itself is silent.
 * An integer column whose signedness neither gives is decoded as signed.
 */
export interface TableHints {
  readonly names?: readonly string[];
  readonly unsigned?: readonly boolean[];
  /**
   * Fractional-second precision of TIME/DATETIME/TIMESTAMP columns in MariaDB's 5.3 format
   * (tables created with mysql56_temporal_format=OFF): their TABLE_MAP entry is the old type
   * with no fsp, and a value of n > 0 digits is longer than the old type's. Without this hint
   * such values are misread: give it for every such column.
   */
  readonly fsp?: readonly (number | undefined)[];
}

interface EventBase {
  readonly header: EventHeader;
  /** File the event was read from, when known (files and replication both know it). */
  readonly file?: string;
  /** Offset of the event's first byte in its file. */
  readonly offset: number;
}

export interface FormatDescriptionEvent extends EventBase {
  readonly kind: 'format-description';
  readonly binlogVersion: number;
  readonly serverVersion: string;
  /** 'none' or 'crc32': whether every later event ends with a 4-byte CRC32. */
  readonly checksum: 'none' | 'crc32';
  /** 'mariadb' when the server version says MariaDB. */
  readonly flavor?: 'mysql' | 'mariadb';
}

export interface RotateEvent extends EventBase {
  readonly kind: 'rotate';
  readonly nextFile: string;
  readonly nextPosition: bigint;
}

export interface QueryEvent extends EventBase {
  readonly kind: 'query';
  readonly threadId: number;
  /** Default database of the statement ('' when none). */
  readonly database: string;
  readonly sql: string;
  readonly errorCode: number;
  /** Session state the statement ran under, from the status variables, where present. */
  readonly sqlMode?: bigint;
  readonly timeZone?: string;
  /** character_set_client, collation_connection, collation_server ids. */
  readonly charset?: { readonly client: number; readonly connection: number; readonly server: number };
  /** MariaDB / MySQL `Q_HRNOW`/`immediate_commit`-style µs part of the statement start, where logged. */
  readonly microseconds?: number;
  /** Seconds the statement ran (the QUERY post-header's exec_time). */
  readonly executionSeconds?: number;
  /** Q_FLAGS2: OPTION_AUTO_IS_NULL, OPTION_NOT_AUTOCOMMIT, OPTION_NO_FOREIGN_KEY_CHECKS, OPTION_RELAXED_UNIQUE_CHECKS bits. */
  readonly flags2?: number;
  readonly autoIncrement?: { readonly increment: number; readonly offset: number };
  readonly lcTimeNames?: number;
  /** Collation id of the default database (Q_CHARSET_DATABASE). */
  readonly charsetDatabase?: number;
  /** Databases the statement changed (Q_UPDATED_DB_NAMES); empty when more than the server lists. */
  readonly updatedDatabases?: readonly string[];
  /** The xid of a DDL statement logged with one (MySQL Q_DDL_LOGGED_WITH_XID, MariaDB Q_XID). */
  readonly ddlXid?: bigint;
  readonly explicitDefaultsForTimestamp?: boolean;
  readonly defaultCollationForUtf8mb4?: number;
  readonly sqlRequirePrimaryKey?: boolean;
  /** MariaDB QUERY_COMPRESSED: the statement text was stored zlib-compressed. */
  readonly compressed?: boolean;
}

export interface XidEvent extends EventBase {
  readonly kind: 'xid';
  readonly xid: bigint;
}

export interface GtidEvent extends EventBase {
  readonly kind: 'gtid';
  readonly flavor: 'mysql' | 'mariadb';
  /** MySQL `uuid:n` or `uuid:tag:n`; MariaDB `domain-server-seq`. Empty for an anonymous GTID. */
  readonly gtid: string;
  /** MariaDB: the transaction is one statement without BEGIN/COMMIT (DDL, non-transactional). */
  readonly standalone?: boolean;
  /** MySQL ≥ 8.0.1: original_commit_timestamp, µs since the epoch. */
  readonly originalCommitMicros?: bigint;
  /** MySQL ≥ 8.0.1: immediate_commit_timestamp, µs since the epoch. */
  readonly immediateCommitMicros?: bigint;
  /** The raw flags byte (MySQL: may-have-SBR; MariaDB flags2: standalone, group commit id, transactional, DDL, XA…). */
  readonly flags?: number;
  /** MariaDB FL_TRANSACTIONAL: every change is in a transactional engine. */
  readonly transactional?: boolean;
  /** MariaDB FL_DDL: the transaction is DDL. */
  readonly ddl?: boolean;
  /** MariaDB group commit id, when the transaction was group-committed with others. */
  readonly commitId?: bigint;
  /** MariaDB XA: 'prepared' (XA PREPARE) or 'completed' (XA COMMIT/ROLLBACK) and its xid as text. */
  readonly xa?: { readonly state: 'prepared' | 'completed'; readonly xid: string };
  /** MySQL 8.4 tagged GTID: the tag (also inside `gtid`). */
  readonly tag?: string;
  /** MySQL logical clock (multi-threaded replica dependency tracking). */
  readonly lastCommitted?: bigint;
  readonly sequenceNumber?: bigint;
  /** MySQL: bytes of the whole transaction, its GTID event included. */
  readonly transactionLength?: bigint;
}

export interface TableMapEvent extends EventBase {
  readonly kind: 'table-map';
  readonly tableId: bigint;
  readonly database: string;
  readonly table: string;
  readonly columns: readonly ColumnInfo[];
  /** Primary key column numbers from optional metadata; undefined when not logged. */
  readonly primaryKey?: readonly number[];
}

export interface RowChange {
  /** Before image (update, delete). */
  readonly before?: RowImage;
  /** After image (insert, update). */
  readonly after?: RowImage;
  /**
   * MySQL partial JSON updates (binlog_row_value_options=PARTIAL_JSON) of columns the before
   * image does not hold (binlog_row_image=MINIMAL), so the new document is unknown here: the
   * column is NOT_LOGGED in `after`, and these edits, in order, turn the stored document into
   * the new one. Where the before image holds the column, the decoder applies the edits itself
   * and `after` holds the whole new JSON text.
   */
  readonly jsonDiffs?: readonly JsonColumnDiff[];
}

/** One edit of a JSON column (MySQL JSON_REPLACE / JSON_INSERT or JSON_ARRAY_INSERT / JSON_REMOVE semantics). */
export interface JsonColumnDiff {
  readonly column: number;
  readonly op: 'replace' | 'insert' | 'remove';
  /** A MySQL JSON path to one value, e.g. `$.a[2]."b c"`. */
  readonly path: string;
  /** JSON text of the new value (replace, insert). */
  readonly value?: string;
}

export interface RowsEvent extends EventBase {
  readonly kind: 'rows';
  readonly operation: 'insert' | 'update' | 'delete';
  readonly tableId: bigint;
  /** The TABLE_MAP this event's rows were decoded with. */
  readonly table: TableMapEvent;
  readonly rows: readonly RowChange[];
  /** STMT_END_F: the last rows event of its statement. */
  readonly statementEnd: boolean;
  /** The rows event flags (STMT_END_F 1, NO_FOREIGN_KEY_CHECKS_F 2, RELAXED_UNIQUE_CHECKS_F 4, COMPLETE_ROWS_F 8). */
  readonly flags?: number;
  /** MariaDB *_ROWS_COMPRESSED: the rows were stored zlib-compressed. */
  readonly compressed?: boolean;
}

export interface HeartbeatEvent extends EventBase {
  readonly kind: 'heartbeat';
  /** The binlog file the server is sending from. */
  readonly logFile: string;
  /** HEARTBEAT_V2: the position in `logFile` (v1 carries it in `header.nextPosition`). */
  readonly logPosition?: bigint;
}

export interface AnnotateRowsEvent extends EventBase {
  readonly kind: 'annotate-rows';
  /** The statement that produced the rows events that follow (MariaDB ANNOTATE_ROWS, MySQL ROWS_QUERY). */
  readonly sql: string;
}

export interface GtidListEvent extends EventBase {
  readonly kind: 'gtid-list';
  /** MariaDB GTID_LIST (`0-1-57,1-2-9`) or MySQL PREVIOUS_GTIDS (`uuid:1-57`). */
  readonly gtids: string;
}

/** An event the driver has no use for, decoded no further (its header and type are kept). */
export interface OtherEvent extends EventBase {
  readonly kind: 'other';
  readonly name: string;
}

export type BinlogEvent =
  | FormatDescriptionEvent
  | RotateEvent
  | QueryEvent
  | XidEvent
  | GtidEvent
  | TableMapEvent
  | RowsEvent
  | HeartbeatEvent
  | AnnotateRowsEvent
  | GtidListEvent
  | OtherEvent;

/** A binlog that cannot be decoded: names the file (or stream) and the event's offset. */
export interface BinlogFormatErrorDetails {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
}
