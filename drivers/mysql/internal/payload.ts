/**
 * Payload of one MySQL/MariaDB transaction part, format `mysql-changes/1`: UTF-8 text, one JSON
 * value per line.
 *
 *   line 1   {"format":"mysql-changes/1","db":<source database>,"gtid":"0-1-57"|"","part":<n>,"internal":0|1}
 *   then     ["T", n, database, table, [[column, type, meta, unsigned 0|1, collation|null], ...], [pk column numbers]|null]
 *            ["I", n, after]            insert
 *            ["U", n, before, after]    update
 *            ["D", n, before]           delete
 *            ["Q", database, sql, sqlMode|null, timeZone|null, [client, connection, server]|null, ["db.table", ...]]
 *            ["F", 0|1]                 foreign key checks of the rows that follow: 0 where the source's
 *                                       session had foreign_key_checks=0 (the rows event flag
 *                                       NO_FOREIGN_KEY_CHECKS_F), so its changes cascaded nothing;
 *                                       every part starts with them on, and the line comes only
 *                                       before a row whose state differs from the one before it
 *   row      [value, ...] in the table's column order (the TABLE_MAP's)
 *   value    null       SQL NULL
 *            false      NOT_LOGGED (the column is not in this image)
 *            "i<digits>"  bigint (integers, SET masks)
 *            "n<text>"    number (FLOAT, DOUBLE, YEAR, ENUM index); "n-0" is -0; String(n) reads back exactly
 *            "s<text>"    string (DECIMAL, DATE, TIME, DATETIME, TIMESTAMP in UTC, MySQL JSON)
 *            "u<text>"    Buffer holding valid UTF-8 (most text columns): the text, bytes kept exactly
 *            "b<base64>"  any other Buffer
 *
 * `n` numbers the tables of one part (0, 1, …); a part describes each table before its first row,
 * so every part can be applied, or filtered by table, without the parts before it. `sqlMode` is
 * the session's sql_mode bit mask as decimal text (the server accepts it back as a number);
 * `timeZone` and the charset ids are as the QUERY event's status variables give them.
 */
import { NOT_LOGGED, type ColumnValue, type RowImage } from '../binlog/types.js';

export const PAYLOAD_FORMAT = 'mysql-changes/1';
const NEWLINE = 0x0a;

export interface PayloadColumn {
  readonly name: string;
  readonly type: number;
  readonly meta: number;
  readonly unsigned: boolean;
  /** Collation id of a character column; null for binary columns or when not logged. */
  readonly collation: number | null;
}

export interface PayloadTable {
  readonly database: string;
  readonly table: string;
  readonly columns: readonly PayloadColumn[];
  /** Primary key column numbers, when the binlog logged them. */
  readonly primaryKey: readonly number[] | null;
}

export interface PayloadStatement {
  /** Default database the statement ran with ('' when none). */
  readonly database: string;
  readonly sql: string;
  readonly sqlMode: bigint | null;
  readonly timeZone: string | null;
  readonly charset: { readonly client: number; readonly connection: number; readonly server: number } | null;
  /** `database.table` names the statement acts on, as far as they could be read from it. */
  readonly tables: readonly string[];
}

export interface PayloadHeader {
  /** The source database (rows of other databases are never in a payload). */
  readonly database: string;
  /** The transaction's GTID ('' when the server logs none). */
  readonly gtid: string;
  readonly part: number;
  /** Written by crm-backup itself (an idle marker). */
  readonly internal: boolean;
}

export type PayloadRecord =
  | { readonly kind: 'insert'; readonly table: PayloadTable; readonly after: RowImage }
  | {
      readonly kind: 'update';
      readonly table: PayloadTable;
      readonly before: RowImage;
      readonly after: RowImage;
    }
  | { readonly kind: 'delete'; readonly table: PayloadTable; readonly before: RowImage }
  | { readonly kind: 'statement'; readonly statement: PayloadStatement }
  | { readonly kind: 'foreign-key-checks'; readonly on: boolean };

type Encoded = string | null | false;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeValue(v: ColumnValue): Encoded {
  if (v === null) return null;
  if (v === NOT_LOGGED) return false;
  switch (typeof v) {
    case 'bigint':
      return `i${v}`;
    case 'number':
      return Object.is(v, -0) ? 'n-0' : `n${v}`;
    case 'string':
      return `s${v}`;
    default: {
      // valid UTF-8 decodes and re-encodes to the same bytes; anything else goes as base64
      let text: string | undefined;
      try {
        text = utf8.decode(v);
      } catch {
        text = undefined;
      }
      return text === undefined ? `b${v.toString('base64')}` : `u${text}`;
    }
  }
}

export function decodeValue(e: unknown): ColumnValue {
  if (e === null) return null;
  if (e === false) return NOT_LOGGED;
  if (typeof e !== 'string' || e.length === 0) throw bad(`value ${JSON.stringify(e)} has no known form`);
  const body = e.slice(1);
  switch (e.charCodeAt(0)) {
    case 0x69 /* i */:
      return BigInt(body);
    case 0x6e /* n */:
      return body === '-0' ? -0 : Number(body);
    case 0x73 /* s */:
      return body;
    case 0x75 /* u */:
      return Buffer.from(body, 'utf8');
    case 0x62 /* b */:
      return Buffer.from(body, 'base64');
    default:
      throw bad(`value ${JSON.stringify(e.slice(0, 20))} has no known form`);
  }
}

function encodeRow(row: RowImage): Encoded[] {
  return row.map(encodeValue);
}

function decodeRow(row: unknown): ColumnValue[] {
  if (!Array.isArray(row)) throw bad('a row image is not a list');
  return row.map(decodeValue);
}

/** Builds one part. The caller decides when a part is full (`bytes`, `changes`). */
export class PayloadBuilder {
  private readonly lines: string[];
  private readonly described = new Map<PayloadTable, number>();
  readonly tables = new Set<string>();
  bytes = 0;
  changes = 0;
  /** Foreign key checks as the last row line left them, and as the next row wants them. */
  private fkWritten = true;
  private fkWanted = true;

  constructor(header: PayloadHeader) {
    this.lines = [
      JSON.stringify({
        format: PAYLOAD_FORMAT,
        db: header.database,
        gtid: header.gtid,
        part: header.part,
        internal: header.internal ? 1 : 0,
      }),
    ];
  }

  private line(value: unknown): void {
    const s = JSON.stringify(value);
    this.lines.push(s);
    this.bytes += s.length + 1;
  }

  private use(t: PayloadTable): number {
    const known = this.described.get(t);
    if (known !== undefined) return known;
    const n = this.described.size;
    this.described.set(t, n);
    this.tables.add(`${t.database}.${t.table}`);
    const cols = t.columns.map((c) => [c.name, c.type, c.meta, c.unsigned ? 1 : 0, c.collation]);
    this.line(['T', n, t.database, t.table, cols, t.primaryKey ? [...t.primaryKey] : null]);
    return n;
  }

  /** Whether the source checked foreign keys (and so cascaded) for the rows added next. */
  foreignKeyChecks(on: boolean): void {
    this.fkWanted = on;
  }

  private checks(): void {
    if (this.fkWanted === this.fkWritten) return;
    this.line(['F', this.fkWanted ? 1 : 0]);
    this.fkWritten = this.fkWanted;
  }

  insert(t: PayloadTable, after: RowImage): void {
    const n = this.use(t);
    this.checks();
    this.line(['I', n, encodeRow(after)]);
    this.changes++;
  }

  update(t: PayloadTable, before: RowImage, after: RowImage): void {
    const n = this.use(t);
    this.checks();
    this.line(['U', n, encodeRow(before), encodeRow(after)]);
    this.changes++;
  }

  delete(t: PayloadTable, before: RowImage): void {
    const n = this.use(t);
    this.checks();
    this.line(['D', n, encodeRow(before)]);
    this.changes++;
  }

  statement(s: PayloadStatement): void {
    for (const t of s.tables) this.tables.add(t);
    this.line([
      'Q',
      s.database,
      s.sql,
      s.sqlMode === null ? null : s.sqlMode.toString(),
      s.timeZone,
      s.charset ? [s.charset.client, s.charset.connection, s.charset.server] : null,
      [...s.tables],
    ]);
  }

  get empty(): boolean {
    return this.lines.length === 1;
  }

  finish(): Uint8Array {
    return Buffer.from(this.lines.join('\n'), 'utf8');
  }
}

function bad(what: string): Error {
  return new Error(`${PAYLOAD_FORMAT} payload is damaged: ${what}.`);
}

function asBuffer(payload: Uint8Array): Buffer {
  return Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

export function decodeHeader(payload: Uint8Array): PayloadHeader {
  const buf = asBuffer(payload);
  const end = buf.indexOf(NEWLINE);
  const h = JSON.parse(buf.toString('utf8', 0, end < 0 ? buf.length : end)) as {
    format?: string;
    db?: unknown;
    gtid?: unknown;
    part?: unknown;
    internal?: unknown;
  };
  if (h.format !== PAYLOAD_FORMAT) throw bad(`its header names format "${String(h.format)}"`);
  if (typeof h.db !== 'string' || typeof h.gtid !== 'string' || typeof h.part !== 'number')
    throw bad('its header lacks the database, gtid or part');
  return { database: h.db, gtid: h.gtid, part: h.part, internal: h.internal === 1 };
}

function parseTable(a: unknown[]): PayloadTable {
  const [, , database, table, cols, pk] = a as [string, number, string, string, unknown[][], number[] | null];
  if (typeof database !== 'string' || typeof table !== 'string' || !Array.isArray(cols))
    throw bad('a table description is incomplete');
  return {
    database,
    table,
    columns: cols.map(([name, type, meta, unsigned, collation]) => ({
      name: name as string,
      type: type as number,
      meta: meta as number,
      unsigned: unsigned === 1,
      collation: (collation as number | null) ?? null,
    })),
    primaryKey: pk ?? null,
  };
}

/** Each line of a payload after its header, as the raw buffer span (for fast scanning). */
export function* payloadLines(payload: Uint8Array): Generator<{ buf: Buffer; start: number; end: number }> {
  const buf = asBuffer(payload);
  let start = buf.indexOf(NEWLINE);
  while (start >= 0) {
    const end = buf.indexOf(NEWLINE, start + 1);
    yield { buf, start: start + 1, end: end < 0 ? buf.length : end };
    start = end;
  }
}

/** Decodes a payload written by PayloadBuilder, record by record. */
export function* decodePayload(payload: Uint8Array): Generator<PayloadRecord> {
  decodeHeader(payload);
  const tables: PayloadTable[] = [];
  const tableOf = (n: unknown): PayloadTable => {
    const t = typeof n === 'number' ? tables[n] : undefined;
    if (!t) throw bad(`table ${String(n)} is used before it is described`);
    return t;
  };
  for (const { buf, start, end } of payloadLines(payload)) {
    const a = JSON.parse(buf.toString('utf8', start, end)) as unknown[];
    switch (a[0]) {
      case 'T':
        tables[a[1] as number] = parseTable(a);
        break;
      case 'I':
        yield { kind: 'insert', table: tableOf(a[1]), after: decodeRow(a[2]) };
        break;
      case 'U':
        yield { kind: 'update', table: tableOf(a[1]), before: decodeRow(a[2]), after: decodeRow(a[3]) };
        break;
      case 'D':
        yield { kind: 'delete', table: tableOf(a[1]), before: decodeRow(a[2]) };
        break;
      case 'F':
        yield { kind: 'foreign-key-checks', on: a[1] !== 0 };
        break;
      case 'Q': {
        const [, database, sql, mode, tz, cs, names] = a as [
          string,
          string,
          string,
          string | null,
          string | null,
          [number, number, number] | null,
          string[],
        ];
        yield {
          kind: 'statement',
          statement: {
            database,
            sql,
            sqlMode: mode === null ? null : BigInt(mode),
            timeZone: tz,
            charset: cs ? { client: cs[0], connection: cs[1], server: cs[2] } : null,
            tables: names ?? [],
          },
        };
        break;
      }
      default:
        throw bad(`unknown record type ${JSON.stringify(a[0])}`);
    }
  }
}
