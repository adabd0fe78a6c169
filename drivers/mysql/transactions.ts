/**
 * The stored MySQL/MariaDB transactions as `crm-backup log` shows them. A reference is
 * `<GTID>@<file>:<offset>`, e.g. `0-1-57@binlog.000012:1234` (MariaDB) or
 * `3e11fa47-71ca-11e1-9e33-c80aa9429562:57@binlog.000012:1234` (MySQL): the GTID is what the
 * server, its replicas and its DBAs call the transaction, and the binlog position (the end of its
 * commit event, its position in the log) is what lets the core find it without reading the whole
 * log. A server without GTIDs gives `binlog.000012:1234` alone. A bare GTID is not enough to find
 * a transaction (the core locates references by position), so it is refused with an example.
 *
 * Listing a long log decodes every payload, so `summarize` does not parse row lines: the record
 * kind is the third character of a line (`["I",`) and the table number follows it. Only table
 * descriptions and statements, a few per part, are parsed as JSON.
 */
import type { Transaction } from '../../src/driver/source-driver.js';
import type {
  ColumnChange,
  PartSummary,
  RowChange,
  TableChangeCounts,
  TransactionReader,
} from '../../src/driver/transactions.js';
import { UsageError } from '../../src/util/errors.js';
import { NOT_LOGGED, type ColumnValue, type RowImage } from './binlog/types.js';
import { decodeHeader, decodePayload, payloadLines, type PayloadTable } from './internal/payload.js';
import { formatPosition, parsePosition } from './internal/position.js';

/** Longest statement text a summary line carries. */
const STATEMENT_CHARS = 120;
const MARIADB_GTID = /^\d{1,10}-\d{1,10}-\d{1,20}$/;
const MYSQL_GTID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?::[a-z_][a-z0-9_]{0,31})?:\d{1,20}$/i;
const FILE_POS = /^[^\s@#:]+\.\d+:\d+$/;
const EXAMPLE = '0-1-57@binlog.000012:1234';

function reference(gtid: string, position: string): string {
  const p = parsePosition(position);
  const at = formatPosition({ file: p.file, offset: p.offset });
  return gtid ? `${gtid}@${at}` : at;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > STATEMENT_CHARS ? `${flat.slice(0, STATEMENT_CHARS - 1)}…` : flat;
}

function summarize(part: Transaction): PartSummary {
  const header = decodeHeader(part.payload);
  const names = new Map<number, string>();
  const counts = new Map<string, { inserts: number; updates: number; deletes: number; truncates: number }>();
  const statements: string[] = [];
  const of = (n: number): { inserts: number; updates: number; deletes: number; truncates: number } => {
    const table = names.get(n) ?? `table ${n}`;
    let c = counts.get(table);
    if (!c) counts.set(table, (c = { inserts: 0, updates: 0, deletes: 0, truncates: 0 }));
    return c;
  };
  for (const { buf, start, end } of payloadLines(part.payload)) {
    const kind = buf[start + 2]; // the line is ["X",...
    if (kind === 0x49 /* I */ || kind === 0x55 /* U */ || kind === 0x44 /* D */) {
      const comma = buf.indexOf(0x2c, start + 5);
      const c = of(Number(buf.toString('latin1', start + 5, comma)));
      if (kind === 0x49) c.inserts++;
      else if (kind === 0x55) c.updates++;
      else c.deletes++;
    } else if (kind === 0x54 /* T */) {
      const t = JSON.parse(buf.toString('utf8', start, end)) as [string, number, string, string];
      names.set(t[1], `${t[2]}.${t[3]}`);
    } else if (kind === 0x51 /* Q */) {
      const q = JSON.parse(buf.toString('utf8', start, end)) as [string, string, string];
      statements.push(oneLine(q[2]));
    }
  }
  const tables: TableChangeCounts[] = [...counts].map(([table, c]) => ({ table, ...c }));
  return {
    ref: reference(header.gtid, part.position),
    tables,
    statements,
    internal: header.internal && tables.length === 0 && statements.length === 0,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A value as `log --show` prints it; undefined when the log does not hold it. */
function shown(v: ColumnValue | undefined): string | null | undefined {
  if (v === undefined || v === NOT_LOGGED) return undefined;
  if (v === null) return null;
  if (Buffer.isBuffer(v)) {
    try {
      return utf8.decode(v);
    } catch {
      return `\\x${v.toString('hex')}`;
    }
  }
  return Object.is(v, -0) ? '-0' : String(v);
}

function keyOf(t: PayloadTable, row: RowImage | undefined): Record<string, string | null> {
  const key: Record<string, string | null> = {};
  if (!row) return key;
  for (const i of t.primaryKey ?? []) {
    const v = shown(row[i]);
    if (v !== undefined) key[t.columns[i]?.name ?? `column ${i + 1}`] = v;
  }
  return key;
}

const nameOf = (t: PayloadTable, i: number): string => t.columns[i]?.name || `column ${i + 1}`;

function* changes(part: Transaction): Generator<RowChange> {
  for (const rec of decodePayload(part.payload)) {
    if (rec.kind === 'foreign-key-checks') continue;
    if (rec.kind === 'statement') {
      yield {
        table: rec.statement.tables[0] ?? '',
        op: 'statement',
        key: {},
        columns: [],
        text: rec.statement.sql,
      };
      continue;
    }
    const t = rec.table;
    const table = `${t.database}.${t.table}`;
    if (rec.kind === 'insert') {
      yield {
        table,
        op: 'insert',
        key: keyOf(t, rec.after),
        columns: rec.after.flatMap((v, i) =>
          v === NOT_LOGGED ? [] : [{ name: nameOf(t, i), new: shown(v) ?? null }],
        ),
      };
    } else if (rec.kind === 'update') {
      const columns: ColumnChange[] = [];
      rec.after.forEach((v, i) => {
        const now = shown(v);
        const was = shown(rec.before[i]);
        if (now === undefined || was === now) return;
        columns.push({ name: nameOf(t, i), ...(was === undefined ? {} : { old: was }), new: now });
      });
      const partial = rec.before.some((v) => v === NOT_LOGGED);
      yield {
        table,
        op: 'update',
        key: keyOf(t, rec.before),
        columns,
        ...(partial
          ? {
              missing: `The log holds only part of the old rows of ${table} (binlog_row_image is not FULL); set binlog_row_image=FULL to keep them whole.`,
            }
          : {}),
      };
    } else {
      const keys = new Set(t.primaryKey ?? []);
      yield {
        table,
        op: 'delete',
        key: keyOf(t, rec.before),
        columns: rec.before.flatMap((v, i) =>
          v === NOT_LOGGED || keys.has(i) ? [] : [{ name: nameOf(t, i), old: shown(v) ?? null }],
        ),
      };
    }
  }
}

function parseReference(text: string): { position: string; ref: string } {
  const s = text.trim();
  const at = s.lastIndexOf('@');
  const gtid = at < 0 ? '' : s.slice(0, at);
  const where = at < 0 ? s : s.slice(at + 1);
  const gtidOk = gtid === '' || MARIADB_GTID.test(gtid) || MYSQL_GTID.test(gtid);
  if (!gtidOk || !FILE_POS.test(where)) {
    const bare = at < 0 && (MARIADB_GTID.test(s) || MYSQL_GTID.test(s));
    throw new UsageError(
      bare
        ? `"${text}" is a GTID alone, which does not say where in the stored log the transaction is; copy its whole reference from "crm-backup log", like ${EXAMPLE} (GTID@binlog position).`
        : `"${text}" is not a MySQL/MariaDB transaction reference; copy one from "crm-backup log", like ${EXAMPLE} (GTID@binlog position) or binlog.000012:1234 on a server without GTIDs.`,
    );
  }
  const p = parsePosition(where);
  const position = formatPosition({ file: p.file, offset: p.offset });
  return { position, ref: gtid ? `${gtid.toLowerCase()}@${position}` : position };
}

export const transactions: TransactionReader = {
  // MariaDB logs commit times to the second (internal/transaction-assembly.ts)
  commitTimeResolution: 'second',
  summarize,
  changes,
  parseReference,
};
