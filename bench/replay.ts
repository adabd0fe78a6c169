/**
 * Replay (apply) throughput of the PostgreSQL driver on a CRM-like write load.
 *   npx tsx bench/replay.ts [--runs 3] [--scale 1]
 * One throwaway PostgreSQL 15: a `contacts` table (bigint key, mixed types, a TOASTed text
 * column) and a key-less `activities` table (REPLICA IDENTITY FULL, duplicate rows) are seeded,
 * copied as a template for the targets, then real transactions are captured from the change log:
 * 100-row UPDATE ranges by key (some touch the TOASTed column, most leave it unchanged), 100-row
 * INSERTs and DELETEs, and updates/deletes on the key-less table. The captured transactions are
 * applied `--runs` times, each into a fresh copy, timing `applyTransaction` per kind; each copy
 * must equal the source (pgTableChecksums), or the run exits 1.
 */
import pg from 'pg';
import { parseArgs } from 'node:util';
import { applyTransaction } from '../drivers/postgres/apply.js';
import { dropPgChangeLog, openPgChangeLog } from '../drivers/postgres/change-log.js';
import { parsePgUrl } from '../drivers/postgres/internal/connection.js';
import { comparePositions, positionFromLsn } from '../drivers/postgres/internal/position.js';
import { pgTableChecksums } from '../scripts/crm/checksums.js';
import { isHeartbeat, type Position, type Transaction } from '../src/driver/source-driver.js';
import { startOwnPostgres } from '../test/harness/index.js';
import { installCleanup } from './lib/cleanup.js';
import { createDb, dbUrl, query } from './lib/pg.js';
import { say } from './lib/steps.js';

const STREAM = 'replay_bench';
/** Rows per statement on the source: the CRM's `WHERE id BETWEEN x AND x + 99`. */
const RANGE = 100;
/** Hex digests concatenated into `notes`: ~9.6 kB of incompressible text, always TOASTed. */
const TOAST_DIGESTS = 300;
const CAPTURE_TIMEOUT_MS = 120_000;
const BENCH_TABLES = new Set(['public.contacts', 'public.activities']);

const SCHEMA = `
CREATE TYPE stage AS ENUM ('lead', 'prospect', 'customer', 'churned');
CREATE TABLE contacts (
  id bigint PRIMARY KEY, account_id bigint, first_name text, last_name text, email text,
  phone text, stage stage, score numeric(12, 4), tags text[], attrs jsonb,
  created_at timestamptz, updated_at timestamptz, notes text
);
CREATE TABLE activities (contact_id bigint, kind text, at timestamptz, body text);`;

function seedSql(rows: number): string {
  return `
INSERT INTO contacts
SELECT g, g / 10, 'First' || g, 'Last ''' || g, 'c' || g || '@example.com', '+1-555-' || lpad(g::text, 7, '0'),
       (ARRAY['lead', 'prospect', 'customer', 'churned']::stage[])[1 + g % 4], g * 1.2345,
       ARRAY['t' || g % 7, 'x"y', NULL], jsonb_build_object('n', g, 'deep', jsonb_build_array(g, 'v')),
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', NULL,
       (SELECT string_agg(md5(i::text || '/' || g), '') FROM generate_series(1, ${TOAST_DIGESTS}) i)
  FROM generate_series(1, ${rows}) g;
INSERT INTO activities SELECT g % 500, 'call', timestamptz '2024-01-01 00:00:00+00' + (g % 50) * interval '1 day', 'note ' || g % 50
  FROM generate_series(1, 20000) g;`;
}

type Kind = 'update' | 'upd+toast' | 'insert' | 'delete' | 'no-key';

/** The source workload: [kind, SQL of one transaction]. */
function workload(scale: number, seeded: number): Array<[Kind, string]> {
  const out: Array<[Kind, string]> = [];
  const n = (x: number): number => Math.max(1, Math.round(x * scale));
  for (let i = 0; i < n(200); i++) {
    const lo = 1 + ((i * RANGE) % seeded);
    // every fifth transaction rewrites notes for a third of its rows: mixed unchanged/changed TOAST
    const notes = i % 5 === 0 ? `, notes = CASE WHEN id % 3 = 0 THEN notes || 'edit${i}' ELSE notes END` : '';
    out.push([notes ? 'upd+toast' : 'update', `UPDATE contacts SET updated_at = timestamptz '2025-01-01 00:00:00+00' + ${i} * interval '1 second',
      score = score + 1, stage = 'customer', attrs = attrs || '{"touched": ${i}}'${notes} WHERE id BETWEEN ${lo} AND ${lo + RANGE - 1}`]);
  }
  for (let i = 0; i < n(50); i++) {
    const lo = seeded + 1 + i * RANGE;
    out.push(['insert', `INSERT INTO contacts (id, account_id, first_name, email, stage, score, tags, attrs, created_at, notes)
      SELECT g, g / 10, 'New' || g, 'n' || g || '@example.com', 'lead', g / 7.0, ARRAY['new'], '{"src": "web"}',
             timestamptz '2025-02-01 00:00:00+00' + g * interval '1 second', CASE WHEN g % 2 = 0 THEN 'short note' END
        FROM generate_series(${lo}, ${lo + RANGE - 1}) g`]);
  }
  for (let i = 0; i < n(50); i++) {
    const lo = seeded - (i + 1) * RANGE + 1;
    out.push(['delete', `DELETE FROM contacts WHERE id BETWEEN ${lo} AND ${lo + RANGE - 1}`]);
  }
  for (let i = 0; i < n(20); i++) {
    const sql = i % 2 === 0
      ? `UPDATE activities SET kind = 'email', body = body || '!' WHERE contact_id = ${i}`
      : `DELETE FROM activities WHERE contact_id = ${i} AND at < timestamptz '2024-01-20 00:00:00+00'`;
    out.push(['no-key', sql]);
  }
  return out;
}

/** Seconds the source spent executing each kind of transaction: the pace replay has to keep. */
const sourceSeconds: Record<Kind, number> = { update: 0, 'upd+toast': 0, insert: 0, delete: 0, 'no-key': 0 };

async function capture(sourceUrl: string, load: Array<[Kind, string]>): Promise<Array<[Kind, Transaction]>> {
  const abort = new AbortController();
  const log = await openPgChangeLog(parsePgUrl(sourceUrl), STREAM, undefined, { signal: abort.signal, heartbeatMs: 200 });
  const c = new pg.Client({ connectionString: sourceUrl });
  await c.connect();
  const kinds: Kind[] = [];
  try {
    for (const [kind, sql] of load) {
      const t0 = performance.now();
      const r = await c.query(sql);
      sourceSeconds[kind] += (performance.now() - t0) / 1000;
      if (r.rowCount) kinds.push(kind);
    }
    const end = positionFromLsn((await c.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0]?.lsn ?? '0/0');
    const txs: Transaction[] = [];
    const timer = setTimeout(() => abort.abort(), CAPTURE_TIMEOUT_MS);
    for await (const item of log) {
      const pos: Position = item.position;
      // markers and sequence records of the stream itself touch no bench table
      if (!isHeartbeat(item) && item.tables?.some((t) => BENCH_TABLES.has(t))) txs.push(item);
      if (isHeartbeat(item) && comparePositions(pos, end) >= 0) break;
    }
    clearTimeout(timer);
    // transactions come in commit order; a large one in several parts, `more` on all but its last
    const out: Array<[Kind, Transaction]> = [];
    let i = 0;
    for (const tx of txs) {
      out.push([kinds[i] as Kind, tx]);
      if (!tx.more) i++;
    }
    if (i !== kinds.length) throw new Error(`captured ${i} transactions with rows, expected ${kinds.length}`);
    return out;
  } finally {
    await c.end();
  }
}

interface Figures {
  readonly seconds: Record<Kind, number>;
  readonly changes: Record<Kind, number>;
}

async function applyAll(url: string, txs: Array<[Kind, Transaction]>): Promise<Figures> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query('SET synchronous_commit = off'); // as target.ts's load sessions run
  const seconds: Record<Kind, number> = { update: 0, 'upd+toast': 0, insert: 0, delete: 0, 'no-key': 0 };
  const changes: Record<Kind, number> = { update: 0, 'upd+toast': 0, insert: 0, delete: 0, 'no-key': 0 };
  try {
    for (const [kind, tx] of txs) {
      const t0 = performance.now();
      await applyTransaction(c, tx);
      seconds[kind] += (performance.now() - t0) / 1000;
      changes[kind] += tx.changes;
    }
  } finally {
    await c.end();
  }
  return { seconds, changes };
}

function rate(changes: number, seconds: number): string {
  return `${Math.round(changes / seconds).toLocaleString('en-US').padStart(8)} changes/s (${changes} in ${seconds.toFixed(2)} s)`;
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, scale: { type: 'string', default: '1' } } });
  const runs = Number(values.runs);
  const scale = Number(values.scale);
  installCleanup();
  const server = await startOwnPostgres();
  let failed = false;
  try {
    const seeded = Math.round(200 * RANGE * scale);
    const template = await createDb(server.url, 'replay_template');
    await query(template, SCHEMA);
    await query(template, seedSql(seeded));
    await query(template, 'VACUUM ANALYZE');
    // the targets start from the same template: equal to the source before the captured load
    await query(server.url, 'CREATE DATABASE replay_source TEMPLATE replay_template');
    const source = dbUrl(server.url, 'replay_source');
    say(`seeded ${seeded} contacts (TOASTed notes) and 20000 activities`);
    const txs = await capture(source, workload(scale, seeded));
    await dropPgChangeLog(parsePgUrl(source), STREAM);
    const expected = await pgTableChecksums(source);
    say(`captured ${txs.length} transactions, ${txs.reduce((n, [, t]) => n + t.changes, 0)} row changes`);
    for (let run = 1; run <= runs; run++) {
      await query(server.url, `CREATE DATABASE replay_target_${run} TEMPLATE replay_template`);
      const target = dbUrl(server.url, `replay_target_${run}`);
      const f = await applyAll(target, txs);
      const same = JSON.stringify(await pgTableChecksums(target)) === JSON.stringify(expected);
      failed ||= !same;
      say(`\nrun ${run}: target ${same ? 'equals' : 'DIFFERS FROM'} the source`);
      for (const k of Object.keys(f.seconds) as Kind[]) {
        say(`  ${k.padEnd(9)} ${rate(f.changes[k], f.seconds[k])}; the source ran them in ${sourceSeconds[k].toFixed(2)} s`);
      }
      const total = (o: Record<Kind, number>): number => Object.values(o).reduce((a, b) => a + b, 0);
      say(`  ${'overall'.padEnd(9)} ${rate(total(f.changes), total(f.seconds))}`);
      await query(server.url, `DROP DATABASE replay_target_${run}`);
    }
  } finally {
    await server.stop();
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench/replay: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
