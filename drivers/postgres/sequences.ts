/**
 * Sequence values. Logical decoding does not carry sequence changes, so a restore sets each
 * sequence at the end to the largest of: its value in the snapshot, any value the change-log
 * replay recorded, and the largest value already in a column the sequence owns (serial and
 * identity columns), so that the next default never collides with a restored row.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from './connection.js';
import { CAPTURE_SCHEMA } from './ddl-capture.js';

export interface SequenceValue {
  readonly schema: string;
  readonly name: string;
  /** bigint as decimal text. */
  readonly lastValue: string;
  readonly isCalled: boolean;
}

const LIST = `
  SELECT n.nspname AS schema, c.relname AS name
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'S' AND n.nspname NOT IN ('information_schema', '${CAPTURE_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY 1, 2`;

/** Reads every user sequence (in the worker's snapshot transaction; sequences themselves are not MVCC). */
export async function captureSequences(client: pg.Client): Promise<SequenceValue[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(LIST);
  const out: SequenceValue[] = [];
  for (const s of rows) {
    const r = await client.query<{ last_value: string; is_called: boolean }>(
      `SELECT last_value::text AS last_value, is_called FROM ${quoteQualified(s.schema, s.name)}`,
    );
    const v = r.rows[0];
    if (v) out.push({ schema: s.schema, name: s.name, lastValue: v.last_value, isCalled: v.is_called });
  }
  return out;
}

/** Columns owned by each sequence (serial via 'a', identity via 'i' dependencies). */
const OWNED = `
  SELECT format('%I.%I', sn.nspname, s.relname) AS seq, format('%I.%I', tn.nspname, t.relname) AS tab,
         a.attname AS col
  FROM pg_depend d
  JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_namespace sn ON sn.oid = s.relnamespace
  JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p')
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')`;

/** Holds what the replay recorded, then sets every sequence once at `finish`. */
export class SequenceRestorer {
  /** Keyed by `format('%I.%I', schema, name)`, the form the change log records names in. */
  private readonly recorded = new Map<string, bigint>();

  /** Called by the change-log apply when a transaction shows a sequence value. */
  record(qualifiedName: string, value: bigint): void {
    const prev = this.recorded.get(qualifiedName);
    if (prev === undefined || value > prev) this.recorded.set(qualifiedName, value);
  }

  async restore(client: pg.Client, snapshot: readonly SequenceValue[]): Promise<void> {
    const owned = await client.query<{ seq: string; tab: string; col: string }>(OWNED);
    const ownedBy = new Map(owned.rows.map((r) => [r.seq, r]));
    const replayed = new Map(this.recorded);
    for (const s of snapshot) {
      const name = await qualified(client, s.schema, s.name);
      let value = BigInt(s.lastValue);
      let isCalled = s.isCalled;
      const seen = replayed.get(name);
      replayed.delete(name);
      if (seen !== undefined && (seen > value || (seen === value && !isCalled)))
        [value, isCalled] = [seen, true];
      const col = ownedBy.get(name);
      if (col) {
        const m = await client.query<{ max: string | null }>(
          `SELECT max(${quoteIdent(col.col)})::text AS max FROM ${col.tab}`,
        );
        const max = m.rows[0]?.max;
        if (
          max !== null &&
          max !== undefined &&
          (BigInt(max) > value || (BigInt(max) === value && !isCalled))
        ) {
          [value, isCalled] = [BigInt(max), true];
        }
      }
      await setval(client, quoteQualified(s.schema, s.name), value, isCalled);
    }
    // sequences created after the snapshot, by replayed DDL
    for (const [name, value] of replayed) {
      const exists = await client.query('SELECT to_regclass($1) IS NOT NULL AS ok', [name]);
      if ((exists.rows[0] as { ok: boolean } | undefined)?.ok) await setval(client, name, value, true);
    }
  }
}

async function qualified(client: pg.Client, schema: string, name: string): Promise<string> {
  const r = await client.query<{ q: string }>("SELECT format('%I.%I', $1::text, $2::text) AS q", [
    schema,
    name,
  ]);
  return r.rows[0]?.q ?? quoteQualified(schema, name);
}

// setval refuses values outside [minvalue, maxvalue]; every value here came from the sequence itself
async function setval(client: pg.Client, regclass: string, value: bigint, isCalled: boolean): Promise<void> {
  await client.query('SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)', [
    regclass,
    value.toString(),
    isCalled,
  ]);
}
