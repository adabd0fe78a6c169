/**
 * The stored PostgreSQL transactions as `crm-backup log` shows them. A reference is
 * `<xid>@<LSN>`: the transaction id the server gave it (what `pg_stat_activity`, server logs and
 * `recovery_target_xid` speak of) and the end of its commit record, which is its position. The
 * xid alone is not unique (it wraps around); the LSN makes the reference name exactly one commit.
 *
 * Listing a long log decodes every payload, so `summarize` does not parse row lines: the record
 * kind is the third character of a line (`["I",`) and the relation id follows it. Only relation
 * descriptions and logical messages, a few per part, are parsed as JSON.
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
import { DDL_MESSAGE_PREFIX, parseDdlMessage, SEQUENCES_MESSAGE_PREFIX } from './internal/ddl-capture.js';
import { MARKER_MESSAGE_PREFIX } from './internal/change-log-admin.js';
import {
  decodePayload,
  PAYLOAD_FORMAT,
  type PayloadRow,
  type PayloadValue,
  type Relation,
} from './internal/payload.js';
import { bigIntToLsn, encodePosition, lsnToBigInt, positionToLsn } from './internal/position.js';

const NEWLINE = 0x0a;
/** Logical messages crm-backup commits itself; a transaction holding only these is internal. */
const INTERNAL_PREFIXES = new Set([MARKER_MESSAGE_PREFIX, SEQUENCES_MESSAGE_PREFIX]);
const REFERENCE = /^(\d{1,10})@([0-9A-F]{1,8}\/[0-9A-F]{1,8})$/i;
const EXAMPLE = '745@0/16B3748';
/** Longest DDL text a summary line carries. */
const STATEMENT_CHARS = 120;

function xidOf(payload: Buffer): number {
  const end = payload.indexOf(NEWLINE);
  const header = JSON.parse(payload.toString('utf8', 0, end < 0 ? payload.length : end)) as {
    format?: string;
    xid?: number;
  };
  if (header.format !== PAYLOAD_FORMAT || typeof header.xid !== 'number')
    throw new Error(`${PAYLOAD_FORMAT} payload is damaged: its header names no transaction id.`);
  return header.xid;
}

function reference(xid: number, position: string): string {
  return `${xid}@${positionToLsn(position)}`;
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > STATEMENT_CHARS ? `${flat.slice(0, STATEMENT_CHARS - 1)}…` : flat;
}

function summarize(part: Transaction): PartSummary {
  const buf = Buffer.from(part.payload.buffer, part.payload.byteOffset, part.payload.byteLength);
  const ref = reference(xidOf(buf), part.position);
  const names = new Map<number, string>();
  const counts = new Map<string, { inserts: number; updates: number; deletes: number; truncates: number }>();
  const statements: string[] = [];
  let internal = true;
  const of = (relid: number): { inserts: number; updates: number; deletes: number; truncates: number } => {
    const table = names.get(relid) ?? `relation ${relid}`;
    let c = counts.get(table);
    if (!c) counts.set(table, (c = { inserts: 0, updates: 0, deletes: 0, truncates: 0 }));
    return c;
  };
  let start = buf.indexOf(NEWLINE);
  while (start >= 0) {
    const end = buf.indexOf(NEWLINE, start + 1);
    const stop = end < 0 ? buf.length : end;
    const kind = buf[start + 3]; // the line is ["X",...
    if (kind === 0x49 /* I */ || kind === 0x55 /* U */ || kind === 0x44 /* D */) {
      const comma = buf.indexOf(0x2c, start + 6);
      const c = of(Number(buf.toString('latin1', start + 6, comma)));
      if (kind === 0x49) c.inserts++;
      else if (kind === 0x55) c.updates++;
      else c.deletes++;
      internal = false;
    } else if (kind === 0x52 /* R */) {
      const r = JSON.parse(buf.toString('utf8', start + 1, stop)) as [string, number, string, string];
      names.set(r[1], `${r[2]}.${r[3]}`);
    } else if (kind === 0x54 /* T */) {
      const t = JSON.parse(buf.toString('utf8', start + 1, stop)) as [string, number[]];
      for (const relid of t[1]) of(relid).truncates++;
      internal = false;
    } else if (kind === 0x4d /* M */) {
      const m = JSON.parse(buf.toString('utf8', start + 1, stop)) as [string, string, number, string | null];
      if (!INTERNAL_PREFIXES.has(m[1])) {
        internal = false;
        statements.push(messageLine(m[1], m[3]));
      }
    }
    start = end;
  }
  const tables: TableChangeCounts[] = [...counts].map(([table, c]) => ({ table, ...c }));
  return { ref, tables, statements, internal };
}

function messageLine(prefix: string, text: string | null): string {
  if (prefix === DDL_MESSAGE_PREFIX && text !== null) return oneLine(parseDdlMessage(text).sql);
  return oneLine(`logical decoding message ${prefix}${text ? `: ${text}` : ''}`);
}

function shown(v: PayloadValue | undefined): string | null | undefined {
  if (v === undefined || v === false) return undefined; // unchanged TOAST value: not in the log
  if (v === null || typeof v === 'string') return v;
  return `\\x${Buffer.from(v.b, 'base64').toString('hex')}`;
}

const IDENTITY: Record<string, string> = { d: 'DEFAULT', i: 'USING INDEX', n: 'NOTHING' };

/** The sentence for a table whose old rows the log holds only in part; undefined for FULL. */
function missingOld(r: Relation, table: string): string | undefined {
  const identity = IDENTITY[r.replicaIdentity];
  if (!identity) return undefined;
  const kept = r.replicaIdentity === 'n' ? 'none of the old row' : 'only the key of the old row';
  return `The log holds ${kept} of ${table} (REPLICA IDENTITY ${identity}); ALTER TABLE ${table} REPLICA IDENTITY FULL makes it keep old values from then on.`;
}

/**
 * The columns that identify a row: the replica identity's. Under REPLICA IDENTITY FULL every
 * column is flagged and the log does not say which form the primary key; the first column
 * (usually `id`) stands for it.
 */
function keyColumns(r: Relation): number[] {
  const flagged = r.columns.flatMap((c, i) => (c.isKey ? [i] : []));
  return r.replicaIdentity === 'f' || flagged.length === 0 ? (r.columns.length ? [0] : []) : flagged;
}

function keyOf(r: Relation, row: PayloadRow | null): Record<string, string | null> {
  const key: Record<string, string | null> = {};
  if (!row) return key;
  for (const i of keyColumns(r)) {
    const v = shown(row[i]);
    if (v !== undefined) key[r.columns[i]!.name] = v;
  }
  return key;
}

function* changes(part: Transaction): Generator<RowChange> {
  const relations = new Map<number, Relation>();
  const nameOf = (id: number): string => {
    const r = relations.get(id);
    return r ? `${r.namespace}.${r.name}` : `relation ${id}`;
  };
  const relationOf = (id: number): Relation => {
    const r = relations.get(id);
    if (!r)
      throw new Error(`${PAYLOAD_FORMAT} payload is damaged: relation ${id} is used before it is described.`);
    return r;
  };
  for (const rec of decodePayload(part.payload)) {
    switch (rec.kind) {
      case 'relation':
        relations.set(rec.relation.relationId, rec.relation);
        break;
      case 'insert': {
        const r = relationOf(rec.relationId);
        yield {
          table: nameOf(rec.relationId),
          op: 'insert',
          key: keyOf(r, rec.newRow),
          columns: r.columns.map((c, i) => ({ name: c.name, new: shown(rec.newRow[i]) })),
        };
        break;
      }
      case 'update': {
        const r = relationOf(rec.relationId);
        const table = nameOf(rec.relationId);
        const full = rec.oldKind === 'O' && rec.oldRow;
        const keys = new Set(keyColumns(r));
        const columns: ColumnChange[] = [];
        r.columns.forEach((c, i) => {
          const now = shown(rec.newRow[i]);
          if (full) {
            const was = shown(rec.oldRow![i]);
            if (now === undefined || was === now) return; // unchanged
            columns.push({ name: c.name, old: was, new: now });
          } else if (rec.oldKind === 'K' && keys.has(i)) {
            const was = shown(rec.oldRow?.[i]);
            if (was !== now) columns.push({ name: c.name, old: was, new: now });
          } else if (!keys.has(i)) {
            columns.push({ name: c.name, new: now });
          }
        });
        const missing = full ? undefined : missingOld(r, table);
        yield {
          table,
          op: 'update',
          // the row as it was found: its old key when the update changed the key
          key: keyOf(r, rec.oldKind ? rec.oldRow : rec.newRow),
          columns,
          ...(missing ? { missing } : {}),
        };
        break;
      }
      case 'delete': {
        const r = relationOf(rec.relationId);
        const table = nameOf(rec.relationId);
        const full = rec.oldKind === 'O';
        const keys = new Set(keyColumns(r));
        const missing = full ? undefined : missingOld(r, table);
        yield {
          table,
          op: 'delete',
          key: keyOf(r, rec.oldRow),
          columns: r.columns.flatMap((c, i) =>
            full && !keys.has(i) ? [{ name: c.name, old: shown(rec.oldRow[i]) }] : [],
          ),
          ...(missing ? { missing } : {}),
        };
        break;
      }
      case 'truncate':
        for (const id of rec.relationIds) {
          const options = [rec.restartIdentity ? 'RESTART IDENTITY' : '', rec.cascade ? 'CASCADE' : ''];
          yield {
            table: nameOf(id),
            op: 'truncate',
            key: {},
            columns: [],
            ...(options.some(Boolean) ? { text: options.filter(Boolean).join(' ') } : {}),
          };
        }
        break;
      case 'message':
        if (INTERNAL_PREFIXES.has(rec.prefix)) break;
        yield {
          table: '',
          op: 'statement',
          key: {},
          columns: [],
          text:
            rec.prefix === DDL_MESSAGE_PREFIX && rec.text !== undefined
              ? parseDdlMessage(rec.text).sql
              : `logical decoding message ${rec.prefix}${rec.text ? `: ${rec.text}` : ''}`,
        };
        break;
      case 'type':
        break;
    }
  }
}

function parseReference(text: string): { position: string; ref: string } {
  const m = REFERENCE.exec(text.trim());
  if (!m?.[1] || !m[2])
    throw new UsageError(
      `"${text}" is not a PostgreSQL transaction reference; copy one from "crm-backup log", like ${EXAMPLE} (xid@commit LSN).`,
    );
  const lsn = lsnToBigInt(m[2]);
  return { position: encodePosition(lsn), ref: `${Number(m[1])}@${bigIntToLsn(lsn)}` };
}

export const transactions: TransactionReader = {
  commitTimeResolution: 'microsecond',
  summarize,
  changes,
  parseReference,
};
