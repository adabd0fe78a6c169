/**
 * Deterministic rows of the `shapes` dataset as COPY text lines (tab-separated, `\N` for NULL),
 * drawn from the same per-table PRNG streams as the reference CRM (prng.ts), so the same
 * (scale, seed) always gives the same bytes. Keys that other tables point at (company uuids,
 * contact ids) are derived from the row number, not drawn, so a child can name its parent
 * without the parent's rows in memory.
 */
import { Prng } from '../prng.js';
import { COUNTRIES, INDUSTRIES, company, domainOf, email, firstName, lastName, noteBody, title, words } from '../text.js';
import { MICROS_PER_DAY, baseMicros, formatMicros } from '../time.js';
import { SHAPES_TABLES, type ShapesTable } from './schema.js';

/**
 * Rows per table at scale 1; the benchmark's default scale (22) gives about 5 M rows and 1 GB of
 * COPY data, as the database of issue 15 has.
 */
export const SHAPES_ROWS_AT_SCALE_1: Readonly<Record<ShapesTable, number>> = {
  companies: 22_700,
  contacts: 68_200,
  deals: 56_800,
  activities: 68_200,
  audit_log: 11_400,
};

/** The columns each line carries, in order (never the generated `full_name`: COPY refuses it). */
export const SHAPES_COLUMNS: Readonly<Record<ShapesTable, readonly string[]>> = {
  companies: ['id', 'name', 'domain', 'revenue', 'tags', 'profile', 'created_at'],
  contacts: ['id', 'company_id', 'first_name', 'last_name', 'email', 'status', 'last_ip', 'avatar', 'raw_import', 'updated_at'],
  deals: ['id', 'company_id', 'contact_id', 'invoice_no', 'title', 'amount', 'stage', 'sales_cycle', 'created_at'],
  activities: ['id', 'occurred_at', 'contact_id', 'kind', 'duration', 'booked', 'details'],
  audit_log: ['at', 'actor', 'action', 'entity', 'diff'],
};

export function shapesRowCounts(scale: number): Record<ShapesTable, number> {
  const out = {} as Record<ShapesTable, number>;
  for (const t of SHAPES_TABLES) out[t] = Math.max(2, Math.round(SHAPES_ROWS_AT_SCALE_1[t] * scale));
  return out;
}

export interface ShapesCtx {
  readonly seed: number;
  readonly counts: Record<ShapesTable, number>;
}

type Field = string | null;
const SPAN_DAYS = 5 * 365;

/** A uuid derived from (seed, kind, n): the same parent key wherever a child names it. */
export function uuidOf(seed: number, kind: number, n: number): string {
  const r = new Prng((Math.imul(n, 0x9e3779b1) ^ Math.imul(seed + kind, 0x85ebca6b)) >>> 0);
  const hex = Array.from({ length: 4 }, () => Math.floor(r.next() * 2 ** 32).toString(16).padStart(8, '0')).join('');
  // version 4, RFC 4122 variant: a uuid any tool takes for one
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${'89ab'[parseInt(hex[16] ?? '0', 16) & 3]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
const companyId = (ctx: ShapesCtx, n: number): string => uuidOf(ctx.seed, 1, n);

const stamp = (r: Prng, ctx: ShapesCtx): number => baseMicros(ctx.seed) + r.int(0, SPAN_DAYS) * MICROS_PER_DAY + r.int(0, MICROS_PER_DAY - 1);
const ts = (m: number): string => formatMicros(m, 'pg');

/** numeric(30,10): up to 20 digits before the point, exactly 10 after (some negative). */
function bigNumeric(r: Prng): string {
  const digits = r.int(1, 20);
  let whole = String(r.int(1, 9));
  while (whole.length < digits) whole += String(r.int(0, 9));
  const frac = Array.from({ length: 10 }, () => r.int(0, 9)).join('');
  return `${r.chance(0.05) ? '-' : ''}${whole}.${frac}`;
}

/** A text[] literal; every element quoted, so commas, spaces and quotes in tags survive. */
function textArray(items: readonly string[]): string {
  return `{${items.map((s) => `"${s.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

function ip(r: Prng): string {
  if (r.chance(0.2)) return `2001:db8:${r.int(0, 0xffff).toString(16)}::${r.int(1, 0xffff).toString(16)}`;
  const v4 = `${r.int(1, 223)}.${r.int(0, 255)}.${r.int(0, 255)}.${r.int(1, 254)}`;
  return r.chance(0.1) ? `${v4.slice(0, v4.lastIndexOf('.'))}.0/24` : v4;
}

const TAGS = ['vip', 'churn-risk', 'upsell', 'eu', 'apac', 'größe', 'key account', 'a,b', 'say "hi"', 'back\\slash'];

function interval(r: Prng): string {
  return r.pick([`${r.int(1, 400)} days`, `${r.int(0, 23)}:${String(r.int(0, 59)).padStart(2, '0')}:00`, `${r.int(1, 3)} mons ${r.int(0, 29)} days ${r.int(0, 23)}:00:00`]);
}

type Gen = (r: Prng, n: number, ctx: ShapesCtx) => Field[];

const GENERATORS: Record<ShapesTable, Gen> = {
  companies: (r, n, ctx) => {
    const name = company(r, n);
    const profile = r.maybe(0.2, () =>
      JSON.stringify({ industry: r.pick(INDUSTRIES), country: r.pick(COUNTRIES), employees: r.int(1, 90_000), about: words(r, r.int(5, 30)), open: r.chance(0.5) }),
    );
    return [companyId(ctx, n), name, r.maybe(0.1, () => domainOf(name)), r.maybe(0.2, () => bigNumeric(r)),
      r.maybe(0.3, () => textArray(Array.from({ length: r.int(0, 4) }, () => r.pick(TAGS)))), profile, ts(stamp(r, ctx))];
  },
  contacts: (r, n, ctx) => {
    const f = firstName(r);
    const l = lastName(r);
    // sparse: one contact in fifty has a small picture
    const avatar = r.chance(0.02) ? `\\x${Array.from({ length: r.int(16, 200) }, () => r.int(0, 255).toString(16).padStart(2, '0')).join('')}` : null;
    // json keeps its text as written: spacing, key order and a repeated key must come back as they were
    const raw = r.maybe(0.5, () => `{"row": ${n},  "source" :"${r.pick(['csv', 'api', 'form'])}", "source": "${r.pick(['import', 'sync'])}", "note": ${JSON.stringify(title(r))}}`);
    return [String(n), r.maybe(0.1, () => companyId(ctx, r.int(1, ctx.counts.companies))), f, l, r.maybe(0.1, () => email(f, l, n, 'mail.example.org')),
      r.pick(['lead', 'prospect', 'customer', 'churned']), r.maybe(0.3, () => ip(r)), avatar, raw, ts(stamp(r, ctx))];
  },
  deals: (r, n, ctx) => [
    uuidOf(ctx.seed, 2, n), companyId(ctx, r.int(1, ctx.counts.companies)), r.maybe(0.3, () => String(r.int(1, ctx.counts.contacts))),
    String(100_000 + n), `${words(r, r.int(2, 6))} #${n}`, bigNumeric(r), r.pick(['new', 'qualified', 'proposal', 'won', 'lost']),
    r.maybe(0.4, () => interval(r)), ts(stamp(r, ctx)),
  ],
  activities: (r, n, ctx) => {
    const at = stamp(r, ctx);
    const booked = r.chance(0.6) ? null : r.chance(0.05) ? 'empty' : `["${ts(at)}","${ts(at + r.int(15, 240) * 60_000_000)}")`;
    const details = r.maybe(0.3, () => JSON.stringify({ subject: words(r, r.int(3, 12)), body: r.chance(0.15) ? noteBody(r) : null, tags: [r.pick(TAGS)] }));
    return [String(n), ts(at), String(r.int(1, ctx.counts.contacts)), r.pick(['call', 'email', 'meeting', 'task']), r.maybe(0.5, () => interval(r)), booked, details];
  },
  audit_log: (r, n, ctx) => {
    // one row in fifty repeats its predecessor exactly (the same stream position is replayed)
    const at = stamp(r, ctx);
    return [ts(at), `user${r.int(1, 400)}@crm.example.com`, r.pick(['create', 'update', 'delete', 'merge']),
      r.maybe(0.05, () => companyId(ctx, r.int(1, ctx.counts.companies))), r.maybe(0.2, () => JSON.stringify({ field: r.pick(['name', 'stage', 'owner']), from: words(r, 2), to: words(r, 2) }))];
  },
};

/** A value as COPY's text format wants it: backslash, tab, newline and carriage return escaped. */
export function copyText(v: Field): string {
  if (v === null) return '\\N';
  return v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/** The rows of `table` as values (COPY text before escaping), one array per row. */
export function* shapesRows(table: ShapesTable, ctx: ShapesCtx): Generator<Field[]> {
  const r = Prng.for(ctx.seed, `shapes.${table}`);
  const gen = GENERATORS[table];
  let previous: Field[] | undefined;
  for (let n = 1; n <= ctx.counts[table]; n++) {
    const row = table === 'audit_log' && previous && r.chance(0.02) ? previous : gen(r, n, ctx);
    previous = row;
    yield row;
  }
}

/** The rows of `table` as COPY text, in chunks of about `chunkBytes`. */
export function* shapesCopyChunks(table: ShapesTable, ctx: ShapesCtx, chunkBytes = 256 * 1024): Generator<Buffer> {
  let lines: string[] = [];
  let size = 0;
  for (const row of shapesRows(table, ctx)) {
    const line = row.map(copyText).join('\t') + '\n';
    lines.push(line);
    size += line.length;
    if (size >= chunkBytes) {
      yield Buffer.from(lines.join(''), 'utf8');
      lines = [];
      size = 0;
    }
  }
  if (lines.length > 0) yield Buffer.from(lines.join(''), 'utf8');
}
