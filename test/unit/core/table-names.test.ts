/**
 * `--tables`: the driver reads the names a user types and matches them against the names it
 * stores; the core (`tableMatcher`) never splits a name.
 */
import { describe, expect, it } from 'vitest';
import { tableMatcher } from '../../../src/restore/tables.js';
import { UsageError } from '../../../src/util/errors.js';
import { tableNames as mongoNames } from '../../../drivers/mongodb/names.js';
import { tableNames as mysqlNames } from '../../../drivers/mysql/names.js';
import { tableNames as pgNames } from '../../../drivers/postgres/names.js';

/** The stored names `wanted` selects from `stored`. */
const pick = (
  names: { matcher(w: readonly string[]): (t: string) => boolean },
  wanted: string[],
  stored: string[],
): string[] => stored.filter(names.matcher(wanted));

/** Names as the PostgreSQL driver stores them: `schema.table`, unquoted. */
const PG = [
  'public.contacts',
  'public.accounts',
  'sales.contacts',
  'public.events.2026', // table "events.2026" in schema public
  'public.Contacts', // table "Contacts"
  'public.a"b', // table a"b
];

describe('PostgreSQL --tables', () => {
  it('a bare name matches the table in any schema, a qualified one exactly (as before)', () => {
    expect(pick(pgNames, ['contacts'], PG)).toEqual(['public.contacts', 'sales.contacts']);
    expect(pick(pgNames, ['sales.contacts'], PG)).toEqual(['sales.contacts']);
    expect(pick(pgNames, ['accounts', 'sales.contacts'], PG)).toEqual(['public.accounts', 'sales.contacts']);
    expect(pick(pgNames, ['nosuch', 'other.contacts'], PG)).toEqual([]);
  });

  it('compares names as the catalog spells them, without folding case', () => {
    expect(pick(pgNames, ['Contacts'], PG)).toEqual(['public.Contacts']);
    expect(pick(pgNames, ['"Contacts"'], PG)).toEqual(['public.Contacts']);
  });

  it('a quoted name keeps its dot, qualified or bare', () => {
    expect(pick(pgNames, ['public."events.2026"'], PG)).toEqual(['public.events.2026']);
    expect(pick(pgNames, ['"public"."events.2026"'], PG)).toEqual(['public.events.2026']);
    expect(pick(pgNames, ['"events.2026"'], PG)).toEqual(['public.events.2026']);
    // unquoted, the dot separates schema and table: schema "events" has no table "2026"
    expect(pick(pgNames, ['events.2026'], PG)).toEqual([]);
    // the quoted bare name is one table name, never the schema-qualified pair
    expect(pick(pgNames, ['"public.contacts"'], PG)).toEqual([]);
    expect(pick(pgNames, ['"sales".contacts'], PG)).toEqual(['sales.contacts']);
  });

  it('a doubled quote inside a quoted name is one quote', () => {
    expect(pick(pgNames, ['public."a""b"'], PG)).toEqual(['public.a"b']);
  });

  it('a name it cannot read is refused in one sentence', () => {
    for (const bad of ['a.b.c', 'public.', '.contacts', '"unterminated', 'a"b', '"a"b', '""', 'public..x']) {
      let err: unknown;
      try {
        pgNames.matcher(['contacts', bad]);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(UsageError);
      expect((err as Error).message).toBe(
        `--tables: ${JSON.stringify(bad)} is not a table name; write table or schema.table, and quote a name that contains a dot (public."events.2026").`,
      );
    }
  });

  it('tableMatcher hands the names to the driver, and selects all tables without --tables', () => {
    expect(tableMatcher({ tableNames: pgNames }, undefined)).toBeUndefined();
    expect(tableMatcher({ tableNames: pgNames }, [])).toBeUndefined();
    const m = tableMatcher({ tableNames: pgNames }, ['public."events.2026"'])!;
    expect(PG.filter(m)).toEqual(['public.events.2026']);
    // the core does not read names: a driver's own rules decide
    const exact = tableMatcher({ tableNames: mongoNames }, ['public.contacts'])!;
    expect(PG.filter(exact)).toEqual(['public.contacts']);
  });
});

describe('MySQL/MariaDB --tables (rules ahead of the driver)', () => {
  const MY = ['crm.contacts', 'crm.events.2026', 'crm.a`b'];
  it('bare names match in the source database, database.table exactly, backticks keep a dot', () => {
    expect(pick(mysqlNames, ['contacts'], MY)).toEqual(['crm.contacts']);
    expect(pick(mysqlNames, ['crm.contacts'], MY)).toEqual(['crm.contacts']);
    expect(pick(mysqlNames, ['other.contacts'], MY)).toEqual([]);
    expect(pick(mysqlNames, ['`events.2026`'], MY)).toEqual(['crm.events.2026']);
    expect(pick(mysqlNames, ['crm.`events.2026`'], MY)).toEqual(['crm.events.2026']);
    expect(pick(mysqlNames, ['`crm`.`a``b`'], MY)).toEqual(['crm.a`b']);
    expect(pick(mysqlNames, ['events.2026'], MY)).toEqual([]);
  });

  it('refuses a name it cannot read', () => {
    expect(() => mysqlNames.matcher(['a.b.c'])).toThrow(
      '--tables: "a.b.c" is not a table name; write table or database.table, and quote a name that contains a dot (crm.`events.2026`).',
    );
  });
});

describe('MongoDB --tables (rules ahead of the driver)', () => {
  const MONGO = ['events', 'events.2026', 'crm.events.2026', 'contacts'];
  it('a collection name is never split: dots are part of it', () => {
    expect(pick(mongoNames, ['events.2026'], MONGO)).toEqual(['events.2026']);
    expect(pick(mongoNames, ['events'], MONGO)).toEqual(['events']);
    expect(pick(mongoNames, ['crm.events.2026', 'contacts'], MONGO)).toEqual(['crm.events.2026', 'contacts']);
    expect(pick(mongoNames, ['2026'], MONGO)).toEqual([]);
  });

  it('refuses what cannot be a collection name', () => {
    expect(() => mongoNames.matcher(['a$b'])).toThrow(UsageError);
    expect(() => mongoNames.matcher([''])).toThrow(UsageError);
  });
});
