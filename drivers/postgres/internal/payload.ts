/**
 * Payload of one transaction part, format `pg-changes/1`: UTF-8 text, one JSON value per line.
 *
 *   line 1   {"format":"pg-changes/1","xid":<n>,"part":<n>}
 *   then     ["R", relid, schema, table, replicaIdentity, [[column, typeOid, typmod, isKey 0|1], ...]]
 *            ["Y", typeOid, schema, typeName]                 (non-built-in type description)
 *            ["I", relid, newRow]
 *            ["U", relid, newRow, "K"|"O"|null, oldRow|null]  (old key / old row when sent)
 *            ["D", relid, "K"|"O", oldRow]
 *            ["T", [relid, ...], cascade 0|1, restartIdentity 0|1]
 *            ["M", prefix, transactional 0|1, text|null, base64|null]  (logical decoding message)
 *   row      [value, ...] in relation column order; value = "text" | null | false (unchanged TOAST:
 *            the column keeps its old value) | {"b": base64} (binary, not requested today)
 *
 * Every part is self-contained: it describes each relation it uses before its first row, so a
 * part can be applied (or filtered by table) without the parts before it. Text values are the
 * server's output functions under DateStyle=ISO, TimeZone=UTC, extra_float_digits=3, bytea hex.
 */
import { DDL_MESSAGE_PREFIX } from './ddl-capture.js';
import type { PgOutputMessage, RelationColumn, TupleValue } from './pgoutput.js';

export const PAYLOAD_FORMAT = 'pg-changes/1';
const NEWLINE = 0x0a;

export type Relation = Extract<PgOutputMessage, { tag: 'relation' }>;
export type PayloadValue = string | null | false | { readonly b: string };
export type PayloadRow = PayloadValue[];

export type PayloadRecord =
  | { readonly kind: 'relation'; readonly relation: Relation }
  | { readonly kind: 'type'; readonly typeOid: number; readonly namespace: string; readonly name: string }
  | { readonly kind: 'insert'; readonly relationId: number; readonly newRow: PayloadRow }
  | {
      readonly kind: 'update';
      readonly relationId: number;
      readonly newRow: PayloadRow;
      readonly oldKind: 'K' | 'O' | null;
      readonly oldRow: PayloadRow | null;
    }
  | { readonly kind: 'delete'; readonly relationId: number; readonly oldKind: 'K' | 'O'; readonly oldRow: PayloadRow }
  | { readonly kind: 'truncate'; readonly relationIds: number[]; readonly cascade: boolean; readonly restartIdentity: boolean }
  | {
      readonly kind: 'message';
      readonly prefix: string;
      readonly transactional: boolean;
      /** The content as text when it is valid UTF-8, else undefined and `bytes` holds it. */
      readonly text: string | undefined;
      readonly bytes: Uint8Array;
    };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function row(values: readonly TupleValue[]): PayloadRow {
  return values.map((v) =>
    typeof v === 'string' || v === null ? v : v instanceof Uint8Array ? { b: Buffer.from(v).toString('base64') } : false,
  );
}

/** Builds one part. The caller decides when a part is full (`bytes`, `changes`). */
export class PayloadBuilder {
  private readonly lines: string[];
  private readonly described = new Set<number>();
  readonly tables = new Set<string>();
  bytes = 0;
  changes = 0;
  /** A captured DDL statement is in this part: it names no table (Transaction.schemaChange). */
  schemaChange = false;

  constructor(
    xid: number,
    part: number,
    private readonly relations: ReadonlyMap<number, Relation>,
  ) {
    this.lines = [JSON.stringify({ format: PAYLOAD_FORMAT, xid, part })];
  }

  private line(value: unknown): void {
    const s = JSON.stringify(value);
    this.lines.push(s);
    this.bytes += s.length + 1;
  }

  private use(relationId: number): void {
    if (this.described.has(relationId)) return;
    const r = this.relations.get(relationId);
    if (!r) throw new Error(`pgoutput sent a change for relation ${relationId} before describing it.`);
    this.described.add(relationId);
    this.tables.add(`${r.namespace}.${r.name}`);
    const cols = r.columns.map((c: RelationColumn) => [c.name, c.typeOid, c.typmod, c.isKey ? 1 : 0]);
    this.line(['R', r.relationId, r.namespace, r.name, r.replicaIdentity, cols]);
  }

  /** A relation description changed mid-part (ALTER TABLE): describe it again before its next row. */
  invalidate(relationId: number): void {
    this.described.delete(relationId);
  }

  type(typeOid: number, namespace: string, name: string): void {
    this.line(['Y', typeOid, namespace, name]);
  }

  /** Adds a row change, truncate or logical message; returns false for anything else. */
  add(m: PgOutputMessage): boolean {
    switch (m.tag) {
      case 'insert':
        this.use(m.relationId);
        this.line(['I', m.relationId, row(m.newRow)]);
        break;
      case 'update':
        this.use(m.relationId);
        this.line(['U', m.relationId, row(m.newRow), m.oldKind ?? null, m.oldRow ? row(m.oldRow) : null]);
        break;
      case 'delete':
        this.use(m.relationId);
        this.line(['D', m.relationId, m.oldKind, row(m.oldRow)]);
        break;
      case 'truncate':
        for (const id of m.relationIds) this.use(id);
        this.line(['T', m.relationIds, m.cascade ? 1 : 0, m.restartIdentity ? 1 : 0]);
        break;
      case 'message': {
        let text: string | null = null;
        try {
          text = utf8.decode(m.content);
        } catch {
          text = null;
        }
        const b64 = text === null ? Buffer.from(m.content).toString('base64') : null;
        this.line(['M', m.prefix, m.transactional ? 1 : 0, text, b64]);
        if (m.prefix === DDL_MESSAGE_PREFIX) this.schemaChange = true;
        return true; // a message is not a row change
      }
      default:
        return false;
    }
    this.changes++;
    return true;
  }

  finish(): Uint8Array {
    return Buffer.from(this.lines.join('\n'), 'utf8');
  }
}

function bad(what: string): Error {
  return new Error(`${PAYLOAD_FORMAT} payload is damaged: ${what}.`);
}

function parseRelation(a: unknown[]): Relation {
  const [, relationId, namespace, name, replicaIdentity, cols] = a as [string, number, string, string, string, unknown[][]];
  if (!Array.isArray(cols)) throw bad('relation without columns');
  return {
    tag: 'relation',
    relationId,
    namespace,
    name,
    replicaIdentity,
    columns: cols.map(([n, typeOid, typmod, key]) => ({
      name: n as string,
      typeOid: typeOid as number,
      typmod: typmod as number,
      isKey: key === 1,
    })),
  };
}

/** Decodes a payload written by PayloadBuilder, record by record. */
export function* decodePayload(payload: Uint8Array): Generator<PayloadRecord> {
  const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let start = buf.indexOf(NEWLINE);
  const header = JSON.parse(buf.toString('utf8', 0, start < 0 ? buf.length : start)) as { format?: string };
  if (header.format !== PAYLOAD_FORMAT) throw bad(`header names format "${String(header.format)}"`);
  while (start >= 0) {
    const end = buf.indexOf(NEWLINE, start + 1);
    const a = JSON.parse(buf.toString('utf8', start + 1, end < 0 ? buf.length : end)) as unknown[];
    start = end;
    switch (a[0]) {
      case 'R':
        yield { kind: 'relation', relation: parseRelation(a) };
        break;
      case 'Y':
        yield { kind: 'type', typeOid: a[1] as number, namespace: a[2] as string, name: a[3] as string };
        break;
      case 'I':
        yield { kind: 'insert', relationId: a[1] as number, newRow: a[2] as PayloadRow };
        break;
      case 'U':
        yield {
          kind: 'update',
          relationId: a[1] as number,
          newRow: a[2] as PayloadRow,
          oldKind: a[3] as 'K' | 'O' | null,
          oldRow: a[4] as PayloadRow | null,
        };
        break;
      case 'D':
        yield { kind: 'delete', relationId: a[1] as number, oldKind: a[2] as 'K' | 'O', oldRow: a[3] as PayloadRow };
        break;
      case 'T':
        yield { kind: 'truncate', relationIds: a[1] as number[], cascade: a[2] === 1, restartIdentity: a[3] === 1 };
        break;
      case 'M': {
        const text = a[3] as string | null;
        const bytes = text !== null ? Buffer.from(text, 'utf8') : Buffer.from(a[4] as string, 'base64');
        yield { kind: 'message', prefix: a[1] as string, transactional: a[2] === 1, text: text ?? undefined, bytes };
        break;
      }
      default:
        throw bad(`unknown record type ${JSON.stringify(a[0])}`);
    }
  }
}

/** Moved to the driver helpers (every change log spools large transactions the same way). */
export { PartSpool } from '../../../src/driver/part-spool.js';
