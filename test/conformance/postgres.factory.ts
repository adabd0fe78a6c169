/**
 * The conformance factory for PostgreSQL: databases on the harness's shared server, the suite
 * schema in `public`, workload steps as single transactions, checksums from scripts/crm.
 */
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { createPgDatabase, pgQuery } from '../harness/index.js';
import { serverNowMicros } from '../helpers/pitr.js';
import { SUITE_TABLES, type ConformanceFactory, type TableChecksums } from './factory.js';

const SCHEMA = `
CREATE TABLE accounts (
  id integer PRIMARY KEY,
  name text NOT NULL,
  tier text NOT NULL DEFAULT 'basic',
  updated_at timestamptz(6) NOT NULL
);
CREATE TABLE contacts (
  id integer PRIMARY KEY,
  account_id integer NOT NULL REFERENCES accounts (id),
  email text NOT NULL,
  score numeric(10,2),
  note text
);
CREATE INDEX contacts_account_id ON contacts (account_id);
CREATE TABLE activities (
  contact_id integer NOT NULL,
  seq integer NOT NULL,
  kind text NOT NULL,
  body text,
  PRIMARY KEY (contact_id, seq)
);
INSERT INTO accounts
  SELECT g, 'Account ' || g || ' Müller & Søn', 'basic', timestamptz '2024-01-01 00:00:00.000001+00' + g * interval '1 second'
  FROM generate_series(1, 50) g;
INSERT INTO contacts
  SELECT g, 1 + g % 50, 'contact' || g || '@example.com', g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('n', g % 200) END
  FROM generate_series(1, 300) g;
INSERT INTO activities
  SELECT 1 + g % 300, g, CASE WHEN g % 2 = 0 THEN 'call' ELSE 'email' END, 'activity ' || g
  FROM generate_series(1, 600) g;
`;

/** Ids a step inserts: two accounts and ten contacts of its own, so later steps can delete them. */
const accountOf = (step: number, i: number): number => 1000 + 2 * step + i;
const contactOf = (step: number, i: number): number => 10_000 + 10 * step + i;

function stepSql(n: number): string {
  const prev = n - 1;
  const old = n - 3;
  return `
BEGIN;
INSERT INTO accounts VALUES (${accountOf(n, 0)}, 'Step ${n} A', 'basic', now()), (${accountOf(n, 1)}, 'Step ${n} B', 'gold', now());
INSERT INTO contacts
  SELECT ${contactOf(n, 0)} + i, ${accountOf(n, 0)} + i % 2, 's${n}c' || i || '@example.com', i + ${n}, 'step ${n}'
  FROM generate_series(0, 9) i;
INSERT INTO activities SELECT ${contactOf(n, 0)} + i, 1, 'call', 'step ${n}' FROM generate_series(0, 9) i;
UPDATE accounts SET tier = 'gold', updated_at = now() WHERE id % 11 = ${n % 11} AND id <= 50;
UPDATE contacts SET score = coalesce(score, 0) + ${n}, note = coalesce(note, '') || ' s${n}' WHERE id % 37 = ${n % 37};
UPDATE activities SET body = 'touched by ${n}' WHERE seq % 53 = ${n % 53};
DELETE FROM activities WHERE contact_id IN (${contactOf(prev, 0)}, ${contactOf(prev, 5)}, ${n});
DELETE FROM contacts WHERE id IN (${contactOf(prev, 0)}, ${contactOf(prev, 5)}, ${n});
DELETE FROM activities WHERE contact_id IN (SELECT id FROM contacts WHERE account_id = ${accountOf(old, 1)});
DELETE FROM contacts WHERE account_id = ${accountOf(old, 1)};
DELETE FROM accounts WHERE id = ${accountOf(old, 1)};
COMMIT;`;
}

export const postgresFactory: ConformanceFactory = {
  name: 'PostgreSQL',
  kind: 'postgres',
  unselectedTables: 'empty',

  createDatabase: (label) => createPgDatabase(`conf_${label}`),

  async createSchema(url) {
    await pgQuery(url, SCHEMA);
  },

  async workloadStep(url, step) {
    await pgQuery(url, stepSql(step));
  },

  async badTransaction(url) {
    await pgQuery(url, `UPDATE contacts SET score = NULL, note = 'lost' WHERE id % 4 = 0`);
  },

  async checksums(url): Promise<TableChecksums> {
    const sums = await pgTableChecksums(url, { tables: SUITE_TABLES });
    return Object.fromEntries(Object.entries(sums).map(([t, s]) => [t, { rows: s.rows, hash: s.md5 }]));
  },

  serverNowMicros: (url) => serverNowMicros(url),

  qualify: (table) => `public.${table}`,
};
