/**
 * The stored MongoDB transactions as `crm-backup log` shows them. A reference is the cluster
 * time of the transaction, `<t>.<i>` (e.g. `1700000000.3`), preceded for a multi-document
 * transaction by its session id and transaction number, `<lsid UUID>:<txnNumber>@<t>.<i>`
 * (e.g. `0aafbcfa-767e-11e9-bda7-abcaf4112df6:1@1700000000.3`): what the server's own logs and
 * `$currentOp` call a transaction, and where it is in the log. The cluster time alone is enough
 * to find it (two stored transactions never share one).
 */
import { BSON } from 'mongodb';
import type { Transaction } from '../../src/driver/source-driver.js';
import type {
  ColumnChange,
  PartSummary,
  RowChange,
  TableChangeCounts,
  TransactionReader,
} from '../../src/driver/transactions.js';
import { UsageError } from '../../src/util/errors.js';
import {
  asBinary,
  asDocument,
  asString,
  buildDocument,
  elements,
  field,
  type RawElement,
} from './internal/bson-raw.js';
import {
  decodeHeader,
  decodePayload,
  payloadRecords,
  ROW_OPS,
  type PayloadHeader,
} from './internal/payload.js';

const REFERENCE =
  /^(?:([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(\d{1,20})@)?(\d{1,10})\.(\d{1,10})$/i;
const EXAMPLE = '0aafbcfa-767e-11e9-bda7-abcaf4112df6:1@1700000000.3';
const STATEMENT_CHARS = 120;

function uuidText(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function referenceOf(h: PayloadHeader): string {
  const at = `${h.clusterTime.t}.${h.clusterTime.i}`;
  const id = h.lsid ? asBinary(field(h.lsid, 'id')) : undefined;
  return id && id.byteLength === 16 && h.txnNumber !== undefined
    ? `${uuidText(id)}:${h.txnNumber}@${at}`
    : at;
}

/** One element's value as text, in relaxed extended JSON. */
function shown(e: RawElement): string {
  const v = BSON.deserialize(buildDocument([{ ...e, name: 'v' }]), {
    promoteValues: true,
    bsonRegExp: true,
  }).v;
  return typeof v === 'string' ? v : BSON.EJSON.stringify(v, { relaxed: true });
}

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > STATEMENT_CHARS ? `${flat.slice(0, STATEMENT_CHARS - 1)}…` : flat;
}

function summarize(part: Transaction): PartSummary {
  const header = decodeHeader(part.payload);
  const counts = new Map<string, { inserts: number; updates: number; deletes: number; truncates: number }>();
  const statements: string[] = [];
  for (const raw of payloadRecords(part.payload)) {
    const op = asString(field(raw, 'op')) ?? '';
    const coll = asString(field(raw, 'coll')) ?? '';
    if (!ROW_OPS.has(op)) {
      if (op !== 'invalidate') statements.push(oneLine(`${op} ${coll}`.trim()));
      continue;
    }
    let c = counts.get(coll);
    if (!c) counts.set(coll, (c = { inserts: 0, updates: 0, deletes: 0, truncates: 0 }));
    if (op === 'insert') c.inserts++;
    else if (op === 'delete') c.deletes++;
    else c.updates++;
  }
  const tables: TableChangeCounts[] = [...counts].map(([table, c]) => ({ table, ...c }));
  return {
    ref: referenceOf(header),
    tables,
    statements,
    internal: header.internal && tables.length === 0 && statements.length === 0,
  };
}

function keyOf(key: Uint8Array | undefined): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const e of key ? elements(key) : []) out[e.name] = shown(e);
  return out;
}

function* changes(part: Transaction): Generator<RowChange> {
  for (const r of decodePayload(part.payload).records) {
    const table = r.coll ?? '';
    if (r.op === 'insert' || r.op === 'replace') {
      const columns: ColumnChange[] = [...(r.doc ? elements(r.doc) : [])].map((e) => ({
        name: e.name,
        new: shown(e),
      }));
      yield {
        table,
        op: r.op === 'insert' ? 'insert' : 'update',
        key: keyOf(r.key),
        columns,
        ...(r.op === 'replace'
          ? { missing: `The change stream holds the new document of a replace in ${table}, not the old one.` }
          : {}),
      };
    } else if (r.op === 'update') {
      const updated = r.upd ? asDocument(field(r.upd, 'updatedFields')) : undefined;
      const removed = r.upd ? asDocument(field(r.upd, 'removedFields')) : undefined;
      const columns: ColumnChange[] = [
        ...[...(updated ? elements(updated) : [])].map((e) => ({ name: e.name, new: shown(e) })),
        ...[...(removed ? elements(removed) : [])].map((e) => ({ name: asString(e) ?? '', new: null })),
      ];
      yield {
        table,
        op: 'update',
        key: keyOf(r.key),
        columns,
        missing: `The change stream holds the changed fields of ${table} (removed ones as null), not their old values.`,
      };
    } else if (r.op === 'delete') {
      yield { table, op: 'delete', key: keyOf(r.key), columns: [] };
    } else if (r.op !== 'invalidate') {
      const desc = r.desc ? ` ${BSON.EJSON.stringify(BSON.deserialize(r.desc), { relaxed: true })}` : '';
      const to = r.toColl !== undefined ? ` to ${r.toDb ?? ''}.${r.toColl}` : '';
      yield { table, op: 'statement', key: {}, columns: [], text: `${r.op} ${table}${to}${desc}` };
    }
  }
}

function parseReference(text: string): { position: string; ref: string } {
  const m = REFERENCE.exec(text.trim());
  const t = Number(m?.[3]);
  const i = Number(m?.[4]);
  if (!m || t > 0xffff_ffff || i > 0xffff_ffff)
    throw new UsageError(
      `"${text}" is not a MongoDB transaction reference; copy one from "crm-backup log", like ${EXAMPLE} (session:transaction number@cluster time) or 1700000000.3 (a cluster time).`,
    );
  const position = `${t}.${i}`;
  return { position, ref: m[1] ? `${m[1].toLowerCase()}:${BigInt(m[2] ?? '0')}@${position}` : position };
}

export const transactions: TransactionReader = {
  // wallTime is milliseconds (MongoDB 6.0+)
  commitTimeResolution: 'millisecond',
  summarize,
  changes,
  parseReference,
};
