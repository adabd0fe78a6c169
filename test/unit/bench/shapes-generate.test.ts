/**
 * The `shapes` dataset's generator (scripts/crm/shapes): the same (scale, seed) gives the same
 * bytes, every shape of issue 15 is in the rows, and each value has its column type's text form.
 * Whether PostgreSQL accepts them is the integration test's (shapes-postgres.test.ts).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { copyText, SHAPES_COLUMNS, shapesCopyChunks, shapesRowCounts, shapesRows, uuidOf } from '../../../scripts/crm/shapes/generate.js';
import { SHAPES_AFTER_LOAD_SQL, SHAPES_TABLES, SHAPES_TABLES_SQL, type ShapesTable } from '../../../scripts/crm/shapes/schema.js';

const ctx = { seed: 7, counts: shapesRowCounts(0.05) };
const digest = (table: ShapesTable, seed: number): string => {
  const h = createHash('md5');
  for (const c of shapesCopyChunks(table, { seed, counts: ctx.counts })) h.update(c);
  return h.digest('hex');
};
const rowsOf = (table: ShapesTable): Record<string, string | null>[] =>
  [...shapesRows(table, ctx)].map((row) => Object.fromEntries(SHAPES_COLUMNS[table].map((c, i) => [c, row[i] ?? null])));
const present = (rows: Record<string, string | null>[], col: string): string[] => rows.map((r) => r[col]).filter((v): v is string => v !== null && v !== undefined);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TS = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00$/;

describe('shapes dataset generator', () => {
  it('is deterministic per seed and differs between seeds', () => {
    for (const t of SHAPES_TABLES) expect(digest(t, 7), t).toBe(digest(t, 7));
    expect(digest('contacts', 7)).not.toBe(digest('contacts', 8));
  });

  it('scales to about 5 M rows at the benchmark scale 22', () => {
    const total = Object.values(shapesRowCounts(22)).reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(4_800_000);
    expect(total).toBeLessThan(5_300_000);
  });

  it('writes lines with one field per column, escaped for COPY', () => {
    for (const t of SHAPES_TABLES) {
      const text = Buffer.concat([...shapesCopyChunks(t, ctx)]).toString('utf8');
      const lines = text.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(ctx.counts[t]);
      for (const l of lines) expect(l.split('\t'), `${t}: ${l}`).toHaveLength(SHAPES_COLUMNS[t].length);
    }
    expect(copyText('a\tb\nc\\d')).toBe('a\\tb\\nc\\\\d');
    expect(copyText(null)).toBe('\\N');
  });

  it('has every shape of issue 15, each value in its type’s text form', () => {
    const schema = SHAPES_TABLES_SQL + SHAPES_AFTER_LOAD_SQL;
    for (const shape of ['PARTITION BY RANGE', 'PARTITION OF', 'GENERATED ALWAYS AS IDENTITY', 'PRIMARY KEY (id, occurred_at)', 'USING gin', '(lower(last_name))',
      'CREATE DOMAIN', 'CHECK', 'numeric(30,10)', 'tstzrange', 'interval', 'inet', ' json,', ' jsonb', 'text[]', 'bytea', 'GENERATED ALWAYS AS (', 'STORED', 'CREATE TYPE contact_status AS ENUM',
      'ON DELETE CASCADE', 'CREATE VIEW', 'CREATE SEQUENCE', 'uuid PRIMARY KEY']) expect(schema, shape).toContain(shape);
    expect(/CREATE TABLE audit_log \([^;]*PRIMARY KEY/.test(schema)).toBe(false);

    const companies = rowsOf('companies');
    expect(new Set(companies.map((r) => r.id)).size).toBe(companies.length);
    for (const id of present(companies, 'id')) expect(id).toMatch(UUID);
    for (const n of present(companies, 'revenue')) expect(n).toMatch(/^-?[1-9]\d{0,19}\.\d{10}$/);
    const tags = present(companies, 'tags');
    for (const a of tags) expect(a).toMatch(/^\{("([^"\\]|\\.)*"(,"([^"\\]|\\.)*")*)?\}$/);
    expect(tags.some((a) => a.includes('"a,b"'))).toBe(true);
    for (const j of present(companies, 'profile')) expect(() => JSON.parse(j) as unknown).not.toThrow();

    const contacts = rowsOf('contacts');
    for (const e of present(contacts, 'email')) expect(e).toMatch(/^[^@\s]+@[^@\s]+$/);
    expect(new Set(contacts.map((r) => r.status))).toEqual(new Set(['lead', 'prospect', 'customer', 'churned']));
    const ips = present(contacts, 'last_ip');
    expect(ips.some((i) => i.includes(':'))).toBe(true);
    expect(ips.some((i) => i.endsWith('/24'))).toBe(true);
    const avatars = present(contacts, 'avatar');
    expect(avatars.length).toBeGreaterThan(0);
    expect(avatars.length).toBeLessThan(contacts.length * 0.05); // sparse
    for (const b of avatars) expect(b).toMatch(/^\\x([0-9a-f]{2})+$/);
    // json keeps a repeated key, which JSON.parse would fold: the restore must keep the text
    expect(present(contacts, 'raw_import').every((j) => (j.match(/"source"/g) ?? []).length === 2)).toBe(true);
    const companyIds = new Set(companies.map((r) => r.id));
    for (const c of present(contacts, 'company_id')) expect(companyIds.has(c)).toBe(true);

    const deals = rowsOf('deals');
    for (const d of deals) expect(d.id).toMatch(UUID);
    expect(present(deals, 'sales_cycle').length).toBeGreaterThan(0);

    const activities = rowsOf('activities');
    const times = activities.map((r) => r.occurred_at ?? '');
    for (const t of times) expect(t).toMatch(TS);
    // both partitions get rows
    expect(times.some((t) => t < '2022-01-01')).toBe(true);
    expect(times.some((t) => t >= '2022-01-01')).toBe(true);
    const ranges = present(activities, 'booked');
    expect(ranges).toContain('empty');
    for (const r of ranges.filter((x) => x !== 'empty')) expect(r).toMatch(/^\["[^"]+","[^"]+"\)$/);

    const audit = [...shapesRows('audit_log', { seed: 7, counts: shapesRowCounts(0.5) })].map((r) => r.map(copyText).join('\t'));
    expect(new Set(audit).size).toBeLessThan(audit.length); // exact duplicates, as tables without a key have
  });

  it('derives parent uuids from the row number, the same wherever they are named', () => {
    expect(uuidOf(7, 1, 42)).toBe(uuidOf(7, 1, 42));
    expect(uuidOf(7, 1, 42)).not.toBe(uuidOf(7, 2, 42));
    expect(uuidOf(7, 1, 42)).toMatch(UUID);
  });
});
