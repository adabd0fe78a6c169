/**
 * Sequence values. Logical decoding does not carry sequence changes, so a restore sets each
 * sequence at the end to the furthest, in the sequence's direction, of: its value in the snapshot,
 * the values the stream recorded up to the first record sampled after the restore's instant (read
 * past the instant, never applied: SequenceRestorer says why that bounds what the source had
 * handed out), and the values already in the columns the sequence feeds (owned serial and
 * identity columns, and columns whose DEFAULT calls nextval on it), so that the next default
 * never collides with a restored row.
 */
import type pg from 'pg';
import { quoteIdent, quoteQualified } from './connection.js';
import { formatMicros } from '../../../src/util/time.js';
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

/** Direction, bounds and cycling of every sequence on the target. */
const PARAMS = `
  SELECT format('%I.%I', n.nspname, c.relname) AS seq, s.seqincrement::text AS inc,
         s.seqmin::text AS min, s.seqmax::text AS max, s.seqcycle AS cycle
  FROM pg_catalog.pg_sequence s JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`;

interface SequenceState {
  value: bigint;
  isCalled: boolean;
}

/** The key of a `crmb.sequences` record that holds when it was read, not a sequence (names have a dot). */
const SAMPLED_KEY = '@sampled';

/** One `crmb.sequences` record of the change log (change-log-admin.ts writes them every 2 s). */
export interface SequenceRecord {
  /**
   * last_value of every sequence that has one, by `format('%I.%I', schema, name)`, when one of
   * them changed since the stream's previous record; empty in a record that says none did.
   */
  readonly values: ReadonlyMap<string, bigint>;
  /** When the values were read (µs since the epoch, the server's clock); absent from older streams. */
  readonly sampledMicros: bigint | undefined;
}

/** The text of a record: values by name and, under a key no sequence name can be, the instant. */
export function sequenceRecordText(values: Readonly<Record<string, string>>, sampledMicros: string): string {
  return JSON.stringify({ ...values, [SAMPLED_KEY]: sampledMicros });
}

export function parseSequenceRecord(text: string): SequenceRecord {
  const values = new Map<string, bigint>();
  let sampledMicros: bigint | undefined;
  for (const [name, value] of Object.entries(JSON.parse(text) as Record<string, string>)) {
    if (name === SAMPLED_KEY) sampledMicros = BigInt(value);
    else values.set(name, BigInt(value));
  }
  return { values, sampledMicros };
}

/** How many of the names a message lists before "and N more". */
const NAMES_SHOWN = 10;

function nameList(list: readonly string[]): string {
  const shown = list.slice(0, NAMES_SHOWN).join(', ');
  return list.length > NAMES_SHOWN ? `${shown} and ${list.length - NAMES_SHOWN} more` : shown;
}

/**
 * Holds what the replay recorded, then sets every sequence once at `finish`.
 *
 * Why a restored sequence is never behind the source at the instant T. Sequence changes are not
 * in the log; the stream records every value every 2 s, with the instant S it read them (the
 * clock is read first, so every value is at least what it was at S). A nextval handed out before
 * T is at most the value at T, and for a sequence that only goes forward that is at most its
 * value at any S after T. So the replay reads on past T (`observe`, the core's observeAfter) to the
 * first record sampled after T, and each sequence is set to the furthest of the records up to
 * that one, its snapshot value and the values in the columns it feeds. A record that says nothing
 * changed stands for the last record with values before it. What this cannot bound is named in
 * the warnings `restore` returns: no record after T stored yet (restoring close to the end of the
 * log), a sequence that moved back between its last record before T and that record (setval
 * backwards, RESTART, a CYCLE wrap) or vanished from the records (dropped, renamed). A CYCLE
 * sequence is set to its value in that record itself, the latest state known.
 */
export class SequenceRestorer {
  /**
   * Keyed by `format('%I.%I', schema, name)`, the form the change log records names in: the lowest
   * and highest value seen, since which one is the latest depends on the sequence's direction,
   * and the latest, in the records up to the bound.
   */
  private readonly recorded = new Map<string, { low: bigint; high: bigint; latest: bigint }>();
  /** Sequences whose value went down / up from one record to the next after the instant. */
  private readonly movedAfter = new Map<string, { down: boolean; up: boolean }>();
  /** The names in the latest record with values (a record that nothing changed refers to it). */
  private lastFull: ReadonlySet<string> | undefined;
  /** A point-in-time restore: the log was replayed or read. */
  private pointInTime = false;
  private untilMicros: bigint | undefined;
  /** Records read after the instant, and whether one of them bounds every sequence. */
  private afterRecords = 0;
  private bounded = false;

  /** One value of a record, applied or read after the instant. */
  private record(qualifiedName: string, value: bigint): void {
    const prev = this.recorded.get(qualifiedName);
    if (!prev) this.recorded.set(qualifiedName, { low: value, high: value, latest: value });
    else {
      if (value < prev.low) prev.low = value;
      else if (value > prev.high) prev.high = value;
      prev.latest = value;
    }
  }

  /** A record the replay applied (committed at or before the instant). */
  applied(rec: SequenceRecord): void {
    this.pointInTime = true;
    for (const [name, value] of rec.values) this.record(name, value);
    if (rec.values.size > 0) this.lastFull = new Set(rec.values.keys());
  }

  /**
   * A record committed after the instant (read, not applied). True once the records read bound
   * every sequence: one sampled after the instant, or for records of older streams, which do not
   * say when they were sampled, the second one after it (the stream takes one after the other, so
   * the second was read after the first committed, after the instant).
   */
  observe(rec: SequenceRecord, untilMicros: bigint): boolean {
    this.pointInTime = true;
    this.untilMicros = untilMicros;
    if (this.bounded) return true;
    this.afterRecords++;
    for (const [name, value] of rec.values) {
      const prev = this.recorded.get(name)?.latest;
      if (prev !== undefined && value !== prev) {
        const moved = this.movedAfter.get(name) ?? { down: false, up: false };
        if (value < prev) moved.down = true;
        else moved.up = true;
        this.movedAfter.set(name, moved);
      }
      this.record(name, value);
    }
    if (rec.values.size > 0) this.lastFull = new Set(rec.values.keys());
    this.bounded = rec.sampledMicros !== undefined ? rec.sampledMicros > untilMicros : this.afterRecords >= 2;
    return this.bounded;
  }

  /** The instant of the restore, once the replay read past it (for messages). */
  noteInstant(untilMicros: bigint): void {
    this.pointInTime = true;
    this.untilMicros = untilMicros;
  }

  /**
   * Sets each sequence to the furthest (in its direction: largest when it counts up, smallest when
   * it counts down) of its snapshot value, the values recorded up to the first record after the
   * instant, and the values already in the columns it feeds, so that the next nextval is a value
   * the source had not handed out by the instant and no restored row holds. Returns what may
   * still stand behind the source (see the class comment).
   */
  async restore(client: pg.Client, snapshot: readonly SequenceValue[]): Promise<string[]> {
    const params = new Map(
      (
        await client.query<{ seq: string; inc: string; min: string; max: string; cycle: boolean }>(PARAMS)
      ).rows.map((r) => [
        r.seq,
        { up: BigInt(r.inc) > 0n, min: BigInt(r.min), max: BigInt(r.max), cycle: r.cycle },
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

    const unbounded: string[] = [];
    const setBack: string[] = [];
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
      const moved = this.movedAfter.get(name);
      if (this.pointInTime && (seen || state.isCalled)) {
        if (!this.bounded) unbounded.push(name);
        else if ((p.up ? moved?.down : moved?.up) || (seen && this.lastFull && !this.lastFull.has(name)))
          setBack.push(name);
      }
      if (p.cycle && seen && this.bounded) {
        // a cycling sequence wraps back: "furthest" means nothing, its latest known state is the bound
        state.value = seen.latest;
        state.isCalled = true;
        await setval(client, name, state.value, state.isCalled);
        continue;
      }
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
    const at = this.untilMicros === undefined ? 'the restore instant' : formatMicros(this.untilMicros);
    const warnings: string[] = [];
    if (unbounded.length > 0)
      warnings.push(
        `Sequence${unbounded.length > 1 ? 's' : ''} ${nameList(unbounded)} may stand behind values the source handed out in the last 2 seconds before ${at}: the stored log holds no record of sequence values taken after it yet (the stream takes one every 2 s and stores it with its next segment); restore again once the stream has stored its next segment, or move them past the source's values with setval.`,
      );
    if (setBack.length > 0)
      warnings.push(
        `Sequence${setBack.length > 1 ? 's' : ''} ${nameList(setBack)} went back (setval, RESTART, a CYCLE wrap) or were dropped or renamed on the source between their last record before ${at} and the first record after it, so values handed out just before ${at} are unknown and may be handed out again: check them against the rows that use them and move them with setval if needed.`,
      );
    return warnings;
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
