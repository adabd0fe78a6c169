/**
 * `--tables` against a real PostgreSQL: table names holding a dot are selected by their quoted
 * form, both when a snapshot picks its tables and when a restore picks from the names stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { tableMatcher } from '../../src/restore/tables.js';
import { createPgDatabase, type TestDatabase, pgQuery as sql } from '../harness/index.js';

const SEED = `
CREATE SCHEMA sales;
CREATE TABLE public.contacts (id int PRIMARY KEY);
CREATE TABLE sales.contacts (id int PRIMARY KEY);
CREATE TABLE public.events (id int PRIMARY KEY);
CREATE TABLE public."events.2026" (id int PRIMARY KEY);
CREATE TABLE public."Notes" (id int PRIMARY KEY);
INSERT INTO public."events.2026" VALUES (1), (2);
`;

describe('postgres --tables with quoted names', () => {
  let src: TestDatabase;
  beforeAll(async () => {
    src = await createPgDatabase('tables_src');
    await sql(src.url, SEED);
  });
  afterAll(async () => {
    await src?.drop();
  });

  /** The stored table names of a snapshot taken with `tables`, and the rows of each. */
  async function snapshotTables(tables?: string[]): Promise<Map<string, number>> {
    const source = await driver.openSource(src.url, { name: 'tables-test' });
    const found = new Map<string, number>();
    try {
      const reader = await source.openSnapshot({ jobs: 1, tables });
      try {
        for await (const s of reader.streams()) {
          for await (const _chunk of s.data);
          found.set(s.table, s.rows ?? 0);
        }
      } finally {
        await reader.close();
      }
    } finally {
      await source.close();
    }
    return found;
  }

  it('a snapshot takes exactly the tables named, a dot inside quotes being part of a name', async () => {
    const picked = await snapshotTables(['public."events.2026"', 'contacts', '"Notes"']);
    expect([...picked.keys()].sort()).toEqual([
      'public.Notes',
      'public.contacts',
      'public.events.2026',
      'sales.contacts',
    ]);
    expect(picked.get('public.events.2026')).toBe(2);
    // unquoted, the dot separates schema and table: there is no schema "events"
    expect([...(await snapshotTables(['events.2026'])).keys()]).toEqual([]);
  });

  it('a restore selects from the stored names by the same rules', async () => {
    const stored = [...(await snapshotTables()).keys()].sort();
    expect(stored).toContain('public.events.2026');
    const pick = (wanted: string[]): string[] => stored.filter(tableMatcher(driver, wanted)!);
    expect(pick(['"events.2026"'])).toEqual(['public.events.2026']);
    expect(pick(['public.events'])).toEqual(['public.events']);
    expect(pick(['sales.contacts'])).toEqual(['sales.contacts']);
  });
});
