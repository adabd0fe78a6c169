import { MalformedEvent } from './errors.js';
import { ByteReader } from './reader.js';
import { ColumnType, type ColumnInfo, type TableHints } from './types.js';

/**
 * TABLE_MAP: table id, names, column types with their metadata, nullability, and the optional
 * metadata of binlog_row_metadata=FULL (MySQL 8.0.1+, MariaDB 10.5+).
 *
 * `ColumnInfo.type` is the real type: a STRING column whose metadata names ENUM or SET is given
 * as ENUM or SET. `ColumnInfo.meta`, by type: FLOAT/DOUBLE the pack length; BLOB, GEOMETRY, JSON
 * and VECTOR the number of length bytes (1–4); VARCHAR, VAR_STRING and STRING the maximum length
 * in bytes; ENUM and SET the pack length in bytes; BIT the number of bits; NEWDECIMAL
 * precision * 256 + scale; TIME2/DATETIME2/TIMESTAMP2 the fsp; the old TIME/DATETIME/TIMESTAMP
 * the fsp a hint gives (MariaDB 5.3 fractional formats), else 0; 0 for the rest.
 */

/** Optional metadata field types (Table_map_log_event::Optional_metadata_field_type). */
const OPT = {
  SIGNEDNESS: 1,
  DEFAULT_CHARSET: 2,
  COLUMN_CHARSET: 3,
  COLUMN_NAME: 4,
  SET_STR_VALUE: 5,
  ENUM_STR_VALUE: 6,
  GEOMETRY_TYPE: 7,
  SIMPLE_PRIMARY_KEY: 8,
  PRIMARY_KEY_WITH_PREFIX: 9,
  ENUM_AND_SET_DEFAULT_CHARSET: 10,
  ENUM_AND_SET_COLUMN_CHARSET: 11,
  COLUMN_VISIBILITY: 12,
} as const;

const BINARY_COLLATION = 63;
const TABLE_ID_BYTES = 6;
const OLD_TABLE_ID_BYTES = 4;

export interface DecodedTableMap {
  readonly tableId: bigint;
  readonly database: string;
  readonly table: string;
  readonly columns: ColumnInfo[];
  readonly primaryKey?: number[];
}

/** Types whose signedness the SIGNEDNESS bitmap records, in column order. */
export function isNumericType(type: number): boolean {
  switch (type) {
    case ColumnType.TINY:
    case ColumnType.SHORT:
    case ColumnType.INT24:
    case ColumnType.LONG:
    case ColumnType.LONGLONG:
    case ColumnType.NEWDECIMAL:
    case ColumnType.DECIMAL:
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
      return true;
    default:
      return false;
  }
}

/** Types with a character set in the DEFAULT_CHARSET / COLUMN_CHARSET fields (binary ones too). */
function isCharacterType(type: number): boolean {
  switch (type) {
    case ColumnType.STRING:
    case ColumnType.VAR_STRING:
    case ColumnType.VARCHAR:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.VECTOR: // MySQL 9 counts it, with the binary collation
      return true;
    default:
      return false;
  }
}

const isEnumOrSet = (type: number): boolean => type === ColumnType.ENUM || type === ColumnType.SET;

interface MutableColumn {
  type: number;
  meta: number;
  nullable: boolean;
  name?: string;
  unsigned?: boolean;
  collation?: number;
  enumValues?: Buffer[];
  setValues?: Buffer[];
  visible?: boolean;
  geometryType?: number;
}

/** Reads one column's type metadata from the TABLE_MAP and resolves STRING's real type. */
function readColumnMeta(r: ByteReader, type: number, index: number): { type: number; meta: number } {
  const field = `the metadata of column ${index + 1}`;
  switch (type) {
    case ColumnType.FLOAT:
    case ColumnType.DOUBLE:
    case ColumnType.BLOB:
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.GEOMETRY:
    case ColumnType.JSON:
    case ColumnType.VECTOR:
    case ColumnType.TIME2:
    case ColumnType.DATETIME2:
    case ColumnType.TIMESTAMP2:
      return { type, meta: r.u8(field) };
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
      return { type, meta: r.u16(field) };
    case ColumnType.BIT: {
      const bits = r.u8(field);
      const bytes = r.u8(field);
      return { type, meta: bytes * 8 + bits };
    }
    case ColumnType.NEWDECIMAL: {
      const precision = r.u8(field);
      const scale = r.u8(field);
      return { type, meta: precision * 256 + scale };
    }
    case ColumnType.STRING:
    case ColumnType.ENUM:
    case ColumnType.SET: {
      const b0 = r.u8(field);
      const b1 = r.u8(field);
      // CHAR longer than 255 bytes keeps two length bits in the real-type byte (XOR 0x30)
      if ((b0 & 0x30) !== 0x30) return { type: b0 | 0x30, meta: b1 | (((b0 & 0x30) ^ 0x30) << 4) };
      if (b0 === ColumnType.ENUM || b0 === ColumnType.SET) return { type: b0, meta: b1 };
      return { type: b0 === ColumnType.STRING ? ColumnType.STRING : b0, meta: b1 };
    }
    default:
      return { type, meta: 0 };
  }
}

export function decodeTableMap(
  r: ByteReader,
  postHeaderLength: number,
  hints?: (database: string, table: string) => TableHints | undefined,
): DecodedTableMap {
  const idBytes = postHeaderLength === 6 ? OLD_TABLE_ID_BYTES : TABLE_ID_BYTES;
  const tableId = BigInt(r.uintLE(idBytes, 'the table id'));
  r.skip(postHeaderLength - idBytes, 'the flags');
  const database = r.utf8(r.u8('the database name length'), 'the database name');
  r.skip(1, 'the zero after the database name');
  const table = r.utf8(r.u8('the table name length'), 'the table name');
  r.skip(1, 'the zero after the table name');
  const count = r.lenencSize('the column count');
  const types = r.bytes(count, 'the column types');
  const metaLength = r.lenencSize('the metadata length');
  const metaEnd = r.pos + metaLength;
  const columns: MutableColumn[] = [];
  for (let i = 0; i < count; i++) {
    const { type, meta } = readColumnMeta(r, types[i]!, i);
    if (r.pos > metaEnd) throw new MalformedEvent(`TABLE_MAP of ${database}.${table} has column metadata longer than its length (${metaLength}).`);
    columns.push({ type, meta, nullable: false });
  }
  if (r.pos !== metaEnd) {
    throw new MalformedEvent(`TABLE_MAP of ${database}.${table} has ${metaLength} bytes of column metadata, its columns use ${metaLength - (metaEnd - r.pos)}.`);
  }
  const nulls = r.bytes(Math.ceil(count / 8), 'the nullability bitmap');
  for (let i = 0; i < count; i++) columns[i]!.nullable = ((nulls[i >> 3]! >> (i & 7)) & 1) === 1;

  const primaryKey = r.remaining > 0 ? readOptionalMetadata(r, columns, `${database}.${table}`) : undefined;

  const hint = hints?.(database, table);
  if (hint) {
    columns.forEach((c, i) => {
      if (c.name === undefined && hint.names?.[i] !== undefined) c.name = hint.names[i];
      if (c.unsigned === undefined && isNumericType(c.type) && hint.unsigned?.[i] !== undefined) c.unsigned = hint.unsigned[i];
      // MariaDB 5.3 fractional temporals: the TABLE_MAP has no fsp for the old type codes
      const fsp = hint.fsp?.[i];
      if (fsp && c.meta === 0 && (c.type === ColumnType.TIME || c.type === ColumnType.DATETIME || c.type === ColumnType.TIMESTAMP)) c.meta = fsp;
    });
  }
  return { tableId, database, table, columns, ...(primaryKey ? { primaryKey } : {}) };
}

/** MSB-first bitmap bits (optional metadata), `n` of them. */
function msbBits(b: Buffer, n: number): boolean[] {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push(((b[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
  return out;
}

function readOptionalMetadata(r: ByteReader, columns: MutableColumn[], name: string): number[] | undefined {
  let primaryKey: number[] | undefined;
  const charCols = columns.filter((c) => isCharacterType(c.type));
  const enumSetCols = columns.filter((c) => isEnumOrSet(c.type));
  const setCollation = (c: MutableColumn, id: number): void => {
    c.collation = id === BINARY_COLLATION ? undefined : id;
  };
  while (r.remaining > 0) {
    const fieldType = r.u8('an optional metadata field type');
    const length = r.lenencSize('an optional metadata field length');
    const f = new ByteReader(r.buf, `TABLE_MAP of ${name}, optional metadata field ${fieldType},`, r.pos, r.pos + length);
    r.skip(length, 'an optional metadata field');
    switch (fieldType) {
      case OPT.SIGNEDNESS: {
        const numeric = columns.filter((c) => isNumericType(c.type));
        const bits = msbBits(f.rest(), numeric.length);
        numeric.forEach((c, i) => (c.unsigned = bits[i]));
        break;
      }
      case OPT.DEFAULT_CHARSET:
      case OPT.ENUM_AND_SET_DEFAULT_CHARSET: {
        const cols = fieldType === OPT.DEFAULT_CHARSET ? charCols : enumSetCols;
        const def = Number(f.lenenc('the default collation'));
        cols.forEach((c) => setCollation(c, def));
        while (f.remaining > 0) {
          const index = Number(f.lenenc('a column index'));
          const collation = Number(f.lenenc('a collation'));
          const c = cols[index];
          if (!c) throw new MalformedEvent(`TABLE_MAP of ${name} gives a collation to character column ${index}, which does not exist.`);
          setCollation(c, collation);
        }
        break;
      }
      case OPT.COLUMN_CHARSET:
      case OPT.ENUM_AND_SET_COLUMN_CHARSET: {
        const cols = fieldType === OPT.COLUMN_CHARSET ? charCols : enumSetCols;
        for (const c of cols) setCollation(c, Number(f.lenenc('a column collation')));
        break;
      }
      case OPT.COLUMN_NAME:
        for (const c of columns) c.name = f.utf8(f.lenencSize('a column name length'), 'a column name');
        break;
      case OPT.SET_STR_VALUE:
      case OPT.ENUM_STR_VALUE: {
        const type = fieldType === OPT.SET_STR_VALUE ? ColumnType.SET : ColumnType.ENUM;
        for (const c of columns.filter((x) => x.type === type)) {
          const n = f.lenencSize('a value count');
          const values: Buffer[] = [];
          for (let i = 0; i < n; i++) values.push(f.copy(f.lenencSize('a value length'), 'a value'));
          if (type === ColumnType.SET) c.setValues = values;
          else c.enumValues = values;
        }
        break;
      }
      case OPT.GEOMETRY_TYPE:
        for (const c of columns.filter((x) => x.type === ColumnType.GEOMETRY)) c.geometryType = Number(f.lenenc('a geometry type'));
        break;
      case OPT.SIMPLE_PRIMARY_KEY:
        primaryKey = [];
        while (f.remaining > 0) primaryKey.push(Number(f.lenenc('a primary key column')));
        break;
      case OPT.PRIMARY_KEY_WITH_PREFIX:
        primaryKey = [];
        while (f.remaining > 0) {
          primaryKey.push(Number(f.lenenc('a primary key column')));
          f.lenenc('a primary key prefix length');
        }
        break;
      case OPT.COLUMN_VISIBILITY: {
        const bits = msbBits(f.rest(), columns.length);
        columns.forEach((c, i) => (c.visible = bits[i]));
        break;
      }
      default:
        // a field a newer server added: its length lets us step over it
        break;
    }
  }
  if (primaryKey?.some((i) => i >= columns.length)) {
    throw new MalformedEvent(`TABLE_MAP of ${name} names a primary key column beyond its ${columns.length} columns.`);
  }
  return primaryKey;
}
