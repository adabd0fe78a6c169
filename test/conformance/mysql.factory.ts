/**
 * The conformance factory for MySQL/MariaDB: the suite schema as InnoDB tables, workload steps as
 * single transactions, checksums from scripts/crm.
 *
 * The databases live on a MariaDB of this file's own (`startMysqlConformanceServer`), not on the
 * harness's shared one: making a gap in a binlog means purging the server's binlogs, which would
 * pull the log from under every other test file streaming from a shared server. With
 * CRMB_TEST_MYSQL_URL set, that server is used (it is a test server: purging is acceptable).
 */
import mysql from 'mysql2/promise';
import { mysqlTableChecksums } from '../../scripts/crm/checksums.js';
import { createMysqlDatabase, mysqlStartOwnServer } from '../harness/index.js';
import type { ThrowawayServer } from '../harness/server.js';
import { purgeBinlogs } from '../helpers/mysql.js';
import { serverNowMicros } from '../helpers/pitr.js';
import { SUITE_TABLES, type ConformanceFactory, type TableChecksums } from './factory.js';

let server: Promise<ThrowawayServer> | undefined;

async function serverUrl(): Promise<string> {
  const external = process.env.CRMB_TEST_MYSQL_URL;
  if (external) return external;
  server ??= mysqlStartOwnServer();
  return (await server).url;
}

/** Stops the server `createDatabase` started, if any: call it in the test file's afterAll. */
export async function stopMysqlConformanceServer(): Promise<void> {
  const s = server;
  server = undefined;
  if (s) await (await s).stop();
}

const SCHEMA = [
  `CREATE TABLE accounts (
     id int PRIMARY KEY,
     name varchar(200) NOT NULL,
     tier varchar(20) NOT NULL DEFAULT 'basic',
     updated_at datetime(6) NOT NULL
   ) ENGINE=InnoDB`,
  `CREATE TABLE contacts (
     id int PRIMARY KEY,
     account_id int NOT NULL,
     email varchar(200) NOT NULL,
     score decimal(10,2),
     note text,
     KEY contacts_account_id (account_id),
     CONSTRAINT contacts_account FOREIGN KEY (account_id) REFERENCES accounts (id)
   ) ENGINE=InnoDB`,
  `CREATE TABLE activities (
     contact_id int NOT NULL,
     seq int NOT NULL,
     kind varchar(20) NOT NULL,
     body text,
     PRIMARY KEY (contact_id, seq)
   ) ENGINE=InnoDB`,
];

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Ids a step inserts: two accounts and ten contacts of its own, so later steps can delete them. */
const accountOf = (step: number, i: number): number => 1000 + 2 * step + i;
const contactOf = (step: number, i: number): number => 10_000 + 10 * step + i;

function stepStatements(n: number): string[] {
  const prev = n - 1;
  const old = n - 3;
  const c0 = contactOf(n, 0);
  const tens = range(0, 9);
  return [
    `INSERT INTO accounts VALUES (${accountOf(n, 0)}, 'Step ${n} A', 'basic', NOW(6)), (${accountOf(n, 1)}, 'Step ${n} B', 'gold', NOW(6))`,
    `INSERT INTO contacts VALUES ${tens
      .map(
        (i) => `(${c0 + i}, ${accountOf(n, 0) + (i % 2)}, 's${n}c${i}@example.com', ${i + n}, 'step ${n}')`,
      )
      .join(', ')}`,
    `INSERT INTO activities VALUES ${tens.map((i) => `(${c0 + i}, 1, 'call', 'step ${n}')`).join(', ')}`,
    `UPDATE accounts SET tier = 'gold', updated_at = NOW(6) WHERE id % 11 = ${n % 11} AND id <= 50`,
    `UPDATE contacts SET score = COALESCE(score, 0) + ${n}, note = CONCAT(COALESCE(note, ''), ' s${n}') WHERE id % 37 = ${n % 37}`,
    `UPDATE activities SET body = 'touched by ${n}' WHERE seq % 53 = ${n % 53}`,
    `DELETE FROM activities WHERE contact_id IN (${contactOf(prev, 0)}, ${contactOf(prev, 5)}, ${n})`,
    `DELETE FROM contacts WHERE id IN (${contactOf(prev, 0)}, ${contactOf(prev, 5)}, ${n})`,
    `DELETE FROM activities WHERE contact_id IN (SELECT id FROM contacts WHERE account_id = ${accountOf(old, 1)})`,
    `DELETE FROM contacts WHERE account_id = ${accountOf(old, 1)}`,
    `DELETE FROM accounts WHERE id = ${accountOf(old, 1)}`,
  ];
}

async function withConnection<T>(url: string, fn: (c: mysql.Connection) => Promise<T>): Promise<T> {
  const c = await mysql.createConnection({ uri: url });
  try {
    await c.query(`SET time_zone = '+00:00'`);
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The statements, committed as one transaction. */
function inTransaction(url: string, statements: readonly string[]): Promise<void> {
  return withConnection(url, async (c) => {
    await c.beginTransaction();
    try {
      for (const s of statements) await c.query(s);
      await c.commit();
    } catch (err) {
      await c.rollback().catch(() => undefined);
      throw err;
    }
  });
}

const quote = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

export const mysqlFactory: ConformanceFactory = {
  name: 'MySQL/MariaDB',
  kind: 'mysql',
  unselectedTables: 'empty',

  createDatabase: async (label) => createMysqlDatabase(`conf_${label}`, await serverUrl()),

  async createSchema(url) {
    const accounts = range(1, 50).map(
      (g) =>
        `(${g}, ${quote(`Account ${g} Müller & Søn 🚀`)}, 'basic', '2024-01-01 00:00:00.000001' + INTERVAL ${g} SECOND)`,
    );
    const contacts = range(1, 300).map(
      (g) =>
        `(${g}, ${1 + (g % 50)}, 'contact${g}@example.com', ${(g * 1.25).toFixed(2)}, ${g % 7 === 0 ? 'NULL' : quote('n'.repeat(g % 200))})`,
    );
    const activities = range(1, 600).map(
      (g) => `(${1 + (g % 300)}, ${g}, '${g % 2 === 0 ? 'call' : 'email'}', 'activity ${g}')`,
    );
    await inTransaction(url, [
      ...SCHEMA,
      `INSERT INTO accounts VALUES ${accounts.join(', ')}`,
      `INSERT INTO contacts VALUES ${contacts.join(', ')}`,
      `INSERT INTO activities VALUES ${activities.join(', ')}`,
    ]);
  },

  workloadStep: (url, step) => inTransaction(url, stepStatements(step)),

  badTransaction: (url) =>
    inTransaction(url, [`UPDATE contacts SET score = NULL, note = 'lost' WHERE id % 4 = 0`]),

  async checksums(url): Promise<TableChecksums> {
    const sums = await mysqlTableChecksums(url, { tables: SUITE_TABLES });
    return Object.fromEntries(Object.entries(sums).map(([t, s]) => [t, { rows: s.rows, hash: s.md5 }]));
  },

  serverNowMicros: (url) => serverNowMicros(url),

  qualify: (table) => table,

  /**
   * A binlog lives on without a per-stream state to drop: the gap is made by rotating to a new
   * binlog file and purging every older one, so the position the stream stored is gone.
   */
  async loseChangeLog(url) {
    const { newest, kept } = await purgeBinlogs(url);
    if (kept.length !== 1) throw new Error(`binlogs other than ${newest} are still kept: ${kept.join(', ')}`);
  },
};
