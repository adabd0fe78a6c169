/**
 * Sequence values. Logical decoding does not carry sequence changes, so a restore sets each
 * sequence at the end to the furthest, in the sequence's direction, of: its value in the snapshot,
 * any value the change-log replay recorded, and the values already in the columns the sequence
 * feeds (owned serial and identity columns, and columns whose DEFAULT calls nextval on it), so
 * that the next default never collides with a restored row.
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

/**
 * Integer columns that take their values from each sequence: the ones it is owned by (serial via
 * 'a', identity via 'i' dependencies) and the ones whose DEFAULT calls nextval on it (the
 * pg_attrdef entry depends on the sequence; a hand-made `invoice_seq` is owned by nothing). Other
 * columns (`'INV-' || nextval(…)` in a text column) cannot say which values were handed out.
 */
const USED_BY = `
  WITH u AS (
    SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS attnum
      FROM pg_catalog.pg_depend d
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
       AND d.deptype IN ('a', 'i')
    UNION
    SELECT d.refobjid, ad.adrelid, ad.adnum
      FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_attrdef ad ON ad.oid = d.objid
     WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
       AND pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) LIKE '%nextval(%'
  )
  SELECT format('%I.%I', sn.nspname, s.relname) AS seq, format('%I.%I', tn.nspname, t.relname) AS tab,
         a.attname AS col, t.relkind
  FROM u
  JOIN pg_catalog.pg_class s ON s.oid = u.seq AND s.relkind = 'S'
  JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
  JOIN pg_catalog.pg_class t ON t.oid = u.rel AND t.relkind IN ('r', 'p')
  JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = u.attnum AND NOT a.attisdropped
  JOIN pg_catalog.pg_type ty ON ty.oid = a.atttypid
  WHERE (CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END)
        IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype)
    -- a partition's copy of its parent's default: the parent's scan covers it
    AND NOT (t.relispartition AND EXISTS (
      SELECT 1 FROM u r JOIN pg_catalog.pg_attribute ra ON ra.attrelid = r.rel AND ra.attnum = r.attnum
        JOIN pg_catalog.pg_inherits i ON i.inhparent = r.rel AND i.inhrelid = t.oid
       WHERE r.seq = u.seq AND ra.attname = a.attname))
  ORDER BY 1, 2, 3`;

/** Direction and bounds of every sequence on the target. */
const PARAMS = `
  SELECT format('%I.%I', n.nspname, c.relname) AS seq, s.seqincrement::text AS inc,
         s.seqmin::text AS min, s.seqmax::text AS max
  FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`;

interface SequenceState {
  value: bigint;
  isCalled: boolean;
}

/** Holds what the replay recorded, then sets every sequence once at `finish`. */
export class SequenceRestorer {
  /**
   * Keyed by `format('%I.%I', schema, name)`, the form the change log records names in: the lowest
   * and highest value seen, since which one is the latest depends on the sequence's direction.
   */
  private readonly recorded = new Map<string, { low: bigint; high: bigint }>();

  /** Called by the change-log apply when a transaction shows a sequence value. */
  record(qualifiedName: string, value: bigint): void {
    const prev = this.recorded.get(qualifiedName);
    if (!prev) this.recorded.set(qualifiedName, { low: value, high: value });
    else if (value < prev.low) prev.low = value;
    else if (value > prev.high) prev.high = value;
  }

  /**
   * Sets each sequence to the furthest (in its direction: largest when it counts up, smallest when
   * it counts down) of its snapshot value, the values the replay recorded, and the values already
   * in the columns it feeds, so that the next nextval is a value no restored row holds. The stream
   * records values only every few seconds, so for rows written since, the columns are the only
   * witness.
   */
  async restore(client: pg.Client, snapshot: readonly SequenceValue[]): Promise<void> {
    const params = new Map(
      (await client.query<{ seq: string; inc: string; min: string; max: string }>(PARAMS)).rows.map((r) => [
        r.seq,
        { up: BigInt(r.inc) > 0n, min: BigInt(r.min), max: BigInt(r.max) },
      ]),
    );
    const usedBy = new Map<string, Array<{ tab: string; col: string; relkind: string }>>();
    const users = await client.query<{ seq: string; tab: string; col: string; relkind: string }>(USED_BY);
    for (const r of users.rows) {
      const list = usedBy.get(r.seq) ?? [];
      list.push(r);
      usedBy.set(r.seq, list);
    }
    // snapshot values; then sequences created after the snapshot (by replayed DDL), which start
    // from what the target has
    const base = new Map<string, SequenceState | undefined>();
    const names = await qualifiedNames(client, snapshot);
    snapshot.forEach((s, i) =>
      base.set(names[i] ?? quoteQualified(s.schema, s.name), {
        value: BigInt(s.lastValue),
        isCalled: s.isCalled,
      }),
    );
    for (const name of [...this.recorded.keys(), ...usedBy.keys()])
      if (!base.has(name)) base.set(name, undefined);

    for (const [name, snap] of base) {
      const p = params.get(name);
      if (!p) continue; // not on the target: dropped by replayed DDL, or left out of a filtered restore
      const state = snap ? { ...snap } : await current(client, name);
      if (!state) continue;
      // `v` is ahead of the state: nextval after setval(v, true) hands out only values beyond it
      const advance = (v: bigint): void => {
        if ((p.up ? v > state.value : v < state.value) || (v === state.value && !state.isCalled)) {
          state.value = v;
          state.isCalled = true;
        }
      };
      const seen = this.recorded.get(name);
      if (seen) advance(p.up ? seen.high : seen.low);
      for (const { tab, col, relkind } of usedBy.get(name) ?? []) {
        // ONLY: an inheritance child is listed on its own when its default calls the sequence too;
        // a partitioned table's rows are all in its partitions
        const from = relkind === 'p' ? tab : `ONLY ${tab}`;
        const m = await client.query<{ v: string | null }>(
          `SELECT ${p.up ? 'max' : 'min'}(${quoteIdent(col)})::text AS v FROM ${from}`,
        );
        const v = m.rows[0]?.v;
        // a value beyond the sequence's bounds was not handed out by it (and setval would refuse it)
        if (v !== null && v !== undefined && BigInt(v) >= p.min && BigInt(v) <= p.max) advance(BigInt(v));
      }
      await setval(client, name, state.value, state.isCalled);
    }
  }
}

/** The target's own state of a sequence (one created by replayed DDL). */
async function current(client: pg.Client, name: string): Promise<SequenceState | undefined> {
  const r = await client.query<{ last_value: string; is_called: boolean }>(
    `SELECT last_value::text AS last_value, is_called FROM ${name}`,
  );
  const row = r.rows[0];
  return row && { value: BigInt(row.last_value), isCalled: row.is_called };
}

/** `format('%I.%I', schema, name)` of each, in order: the form the change log names sequences in. */
async function qualifiedNames(
  client: pg.Client,
  seqs: readonly { schema: string; name: string }[],
): Promise<string[]> {
  if (seqs.length === 0) return [];
  const r = await client.query<{ q: string }>(
    `SELECT format('%I.%I', s, n) AS q FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(s, n, i) ORDER BY i`,
    [seqs.map((s) => s.schema), seqs.map((s) => s.name)],
  );
  return r.rows.map((row) => row.q);
}

// setval refuses values outside [minvalue, maxvalue]; every value here came from the sequence itself
async function setval(client: pg.Client, regclass: string, value: bigint, isCalled: boolean): Promise<void> {
  await client.query('SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)', [
    regclass,
    value.toString(),
    isCalled,
  ]);
}
