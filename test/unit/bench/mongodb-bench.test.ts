/**
 * bench/mongodb.ts without a MongoDB server (none can be installed here): its options, the one
 * line it prints when no server is given (and `npm run bench` showing it as not run), a closed
 * port ending the run in one sentence, its table from fabricated results, and the documents of
 * the MongoDB reference CRM, whose BSON types are chosen, not left to JavaScript numbers.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BSON, Decimal128, Double, Int32, Long, ObjectId, type Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { databaseUrl } from '../../../bench/lib/mongodb.js';
import { MONGO_DEFAULT_SCALE, NOT_RUN, parseMongoBenchArgs } from '../../../bench/lib/mongodb-options.js';
import { mongoFigureRows } from '../../../bench/lib/mongodb-report.js';
import { parseMyBenchArgs } from '../../../bench/lib/mysql-options.js';
import { parsePgBenchArgs } from '../../../bench/lib/options.js';
import { printTable, type Row } from '../../../bench/lib/report.js';
import type { MongoBenchResults } from '../../../bench/lib/results.js';
import { CRM_TABLES, type CrmTable } from '../../../migrations/knex-config.js';
import { generateRows, rowCounts } from '../../../scripts/crm/generate.js';
import { generateDocuments } from '../../../scripts/crm/mongodb-documents.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const MB = 1_000_000;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a bench script through tsx, as `npx tsx` does, with no MongoDB URL in its environment unless given. */
function runScript(args: string[]): Promise<Ran> {
  const env = { ...process.env };
  delete env.CRMB_BENCH_MONGODB_URL;
  delete env.CRMB_TEST_MONGODB_URL;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

describe('bench/mongodb.ts options', () => {
  it('takes the URL from --url, else CRMB_BENCH_MONGODB_URL, else CRMB_TEST_MONGODB_URL, with the shared options', () => {
    const env = { CRMB_BENCH_MONGODB_URL: 'mongodb://bench:1/?replicaSet=rs0', CRMB_TEST_MONGODB_URL: 'mongodb://test:2/?replicaSet=rs0' };
    const o = parseMongoBenchArgs(['--url', 'mongodb://a:27017,b:27017/?replicaSet=rs0', '--scale', '0.5', '--jobs', '3', '--built'], env);
    expect(o).toMatchObject({ url: 'mongodb://a:27017,b:27017/?replicaSet=rs0', scale: 0.5, jobs: 3, built: true, rate: 4000, restoreRounds: 3 });
    expect(parseMongoBenchArgs([], env).url).toBe(env.CRMB_BENCH_MONGODB_URL);
    expect(parseMongoBenchArgs([], { CRMB_TEST_MONGODB_URL: env.CRMB_TEST_MONGODB_URL }).url).toBe(env.CRMB_TEST_MONGODB_URL);
    expect(parseMongoBenchArgs([], {})).toMatchObject({ url: '', scale: MONGO_DEFAULT_SCALE, jobs: 2 });
  });

  it('refuses a URL that is not mongodb://, without echoing it, and bad numbers', () => {
    expect(() => parseMongoBenchArgs(['--url', 'postgres://u:secret@h/db'], {})).toThrow(/^the server URL must start with mongodb:\/\/ or mongodb\+srv:\/\//);
    expect(() => parseMongoBenchArgs(['--url', 'postgres://u:secret@h/db'], {})).not.toThrow(/secret/);
    expect(() => parseMongoBenchArgs(['--scale', '0'], {})).toThrow('--scale is "0"; it must be a positive number.');
    expect(() => parseMongoBenchArgs(['--jobs', '1.5'], {})).toThrow('--jobs is "1.5"; it must be a positive integer.');
    expect(() => parseMongoBenchArgs(['--buffer-pool', '4G'], {})).toThrow(/buffer-pool/);
  });

  it('leaves the PostgreSQL and MySQL benchmarks\' options as they were', () => {
    expect(parsePgBenchArgs([])).toMatchObject({ scale: 22, jobs: 2, restoreRounds: 3, snapshotRounds: 3 });
    expect(parsePgBenchArgs(['--snapshot-rounds', '5'])).toMatchObject({ snapshotRounds: 5, restoreRounds: 3 });
    expect(() => parseMyBenchArgs(['--snapshot-rounds', '0'])).toThrow('--snapshot-rounds is "0"; it must be a positive integer.');
    expect(parseMyBenchArgs(['--buffer-pool', '512M'])).toMatchObject({ scale: 24, bufferPool: '512M' });
    expect(() => parsePgBenchArgs(['--url', 'mongodb://h/'])).toThrow(/url/);
  });

  it('puts another database in a URL, keeping its options, and the named one as authSource for a user', () => {
    expect(databaseUrl('mongodb://127.0.0.1:27017/?replicaSet=rs0', 'crmb_bench_x_crm')).toBe('mongodb://127.0.0.1:27017/crmb_bench_x_crm?replicaSet=rs0');
    expect(databaseUrl('mongodb://u:p@a,b:27018/admin?replicaSet=rs0', '')).toBe('mongodb://u:p@a,b:27018/?replicaSet=rs0&authSource=admin');
    expect(databaseUrl('mongodb://u:p@a/admin?authSource=other', 'd')).toBe('mongodb://u:p@a/d?authSource=other');
  });
});

describe('bench/mongodb.ts without a server', () => {
  it('prints the one NOT RUN line and exits 0 when no URL is given', async () => {
    const r = await runScript(['bench/mongodb.ts']);
    expect(r).toMatchObject({ code: 0, stdout: `${NOT_RUN}\n`, stderr: '' });
  });

  it('is shown as NOT RUN, not ok, by npm run bench', async () => {
    const r = await runScript(['bench/run.ts', '--only', 'mongodb']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`bench/mongodb.ts: NOT RUN (${NOT_RUN.slice(NOT_RUN.indexOf(': ') + 2)})`);
    expect(r.stdout).not.toMatch(/bench\/mongodb\.ts: ok/);
  });

  it('ends in one sentence with exit 1 on a closed port, without hanging, its temp folder removed', async () => {
    const url = 'mongodb://127.0.0.1:1/?replicaSet=rs0&serverSelectionTimeoutMS=2000';
    const r = await runScript(['bench/mongodb.ts', '--url', url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^bench\/mongodb\.ts: Cannot reach the MongoDB server at mongodb:\/\/127\.0\.0\.1:1\/: [^\n]*ECONNREFUSED[^\n]*\.\n$/);
    // 2 s of server selection plus tsx's start-up on a loaded machine; the driver's default would be 30 s
    expect(r.seconds).toBeLessThan(25);
    const work = /^work folder (.+)$/m.exec(r.stdout)?.[1];
    expect(work).toBeTruthy();
    expect(existsSync(work!)).toBe(false);
  });
});

function fabricated(toolsMissing?: string): MongoBenchResults {
  const run = (seconds: number, mb: number): { seconds: number; peakRssBytes: number } => ({ seconds, peakRssBytes: mb * MB });
  const equal = { equal: true, tables: 14, differing: [] };
  return {
    startedAt: '2026-12-05T00:00:00.000Z',
    options: { jobs: 2, scale: 14 },
    environment: {},
    seed: { seconds: 300, rows: 2_593_500, size: { data: 1_050 * MB, storage: 400 * MB, indexes: 120 * MB, collections: 8 } },
    native: toolsMissing ? { toolsMissing } : { dump: { seconds: 40, bytes: 250 * MB }, restoreSeconds: 60, restoreRuns: [62, 60, 58] },
    init: run(1, 120),
    cliBaseline: { version: run(0.3, 60), list: run(1.1, 130) },
    snapshot: { ...run(32, 180), id: 'abc', repoBytes: 260 * MB, tables: 8, rows: 2_593_500 },
    restore: { ...run(55, 210), checksums: equal, runs: [55, 54, 57] },
    stream: { peakRssBytes: 150 * MB, lagSamples: 6, segments: 15, maxLagSeconds: 0.4, catchUpSeconds: 1.2, load: { changes: 120_000, statements: 1200, seconds: 30, changesPerSecond: 4000 } },
    pitr: { ...run(70, 230), transactions: 1200, changes: 120_000, replayMethod: 'x', replaySeconds: 4, changesPerSecond: 30_000, checksums: { equal: false, tables: 14, differing: ['contacts (26000 vs 25999 rows)'] } },
    steps: [],
  };
}

const row = (rows: readonly Row[], start: string, baseline?: string): Row =>
  rows.find((r) => r.metric.startsWith(start) && (baseline === undefined || r.baseline.includes(baseline)))!;

describe('bench/mongodb.ts table', () => {
  it('judges snapshot time, bytes and restore time against mongodump/mongorestore, and the shared rows', () => {
    const rows = mongoFigureRows(fabricated());
    expect(row(rows, 'snapshot --jobs 2')).toMatchObject({ value: '32.0 s', baseline: '40.0 s (mongodump --archive --gzip -j 2)', ratio: '0.80×', verdict: 'met' });
    expect(row(rows, 'repository bytes')).toMatchObject({ ratio: '1.04×', target: '≤ 1.00×', verdict: 'MISSED' });
    expect(row(rows, 'restore --snapshot --jobs 2, wall time (median of 3)')).toMatchObject({ baseline: '60.0 s (mongorestore --archive --gzip -j 2)', ratio: '0.92×', verdict: 'met' });
    expect(row(rows, 'peak memory: init')).toMatchObject({ value: '120.0 MB', verdict: 'met' });
    expect(row(rows, 'restore --at E checksums')).toMatchObject({ value: 'DIFFERENT: contacts (26000 vs 25999 rows)', verdict: 'FAIL' });
    expect(row(rows, 'database (BSON')).toMatchObject({ value: '1050.0 MB / 400.0 MB / 120.0 MB' });
    const lines: string[] = [];
    printTable(rows, (l) => lines.push(l));
    expect(lines.find((l) => l.startsWith('snapshot --jobs 2'))).toMatch(/met$/);
  });

  it('says NOT RUN, with the reason, for the comparisons when the Database Tools are missing', () => {
    const why = 'mongodump not found (install the MongoDB Database Tools)';
    const rows = mongoFigureRows(fabricated(why));
    for (const start of ['snapshot --jobs 2', 'repository bytes', 'restore --snapshot --jobs 2'])
      expect(row(rows, start)).toMatchObject({ baseline: `not run: ${why}`, ratio: '—', verdict: 'NOT RUN' });
    expect(row(rows, 'restore --snapshot checksums')).toMatchObject({ verdict: 'met' });
    const lines: string[] = [];
    printTable(rows, (l) => lines.push(l));
    expect(lines.filter((l) => l.endsWith('NOT RUN'))).toHaveLength(3);
  });
});

/** Every document of `table` at a small scale, as the server would store it: serialized, then read without promoting numbers. */
function stored(table: CrmTable, seed = 1, scale = 0.01): Document[] {
  const docs = [...generateDocuments(table, { seed, counts: rowCounts(scale) }, 500)].flat();
  return docs.map((d) => BSON.deserialize(BSON.serialize(d), { promoteValues: false }));
}

describe('MongoDB reference CRM documents', () => {
  it('has as many documents as the SQL seed has rows, with _ids of the chosen types', () => {
    for (const t of CRM_TABLES) expect(stored(t)).toHaveLength(rowCounts(0.01)[t]);
    expect(stored('users').every((d) => d._id instanceof Int32)).toBe(true);
    expect(stored('contacts').map((d) => (d._id as Int32).value)).toEqual(Array.from({ length: rowCounts(0.01).contacts }, (_, i) => i + 1));
    expect(stored('activities').every((d) => d._id instanceof Long && !(d._id as Long).isZero())).toBe(true);
    const events = stored('email_events');
    expect(events.every((d) => d._id instanceof ObjectId)).toBe(true);
    expect(new Set(events.map((d) => (d._id as ObjectId).toHexString())).size).toBe(events.length);
    // the ObjectId's time is the event's second
    for (const d of events) expect((d._id as ObjectId).getTimestamp().getTime()).toBe(Math.floor((d.occurred_at as Date).getTime() / 1000) * 1000);
  });

  it('keeps money as Decimal128 with the SQL digits, probability as a double, counts as int32, times as dates', () => {
    const rows = [...generateRows('deals', { seed: 1, counts: rowCounts(0.01), dialect: 'pg' }, 500)].flat();
    const deals = stored('deals');
    deals.forEach((d, i) => {
      expect(d.amount).toBeInstanceOf(Decimal128);
      expect(d.amount.toString()).toBe(rows[i]!.amount);
      expect(d.probability).toBeInstanceOf(Double);
      expect((d.probability as Double).value).toBe(Number(rows[i]!.probability) / 100);
      expect(d.account_id).toBeInstanceOf(Int32);
      expect(d.created_at).toBeInstanceOf(Date);
      // microseconds of the SQL row cut to milliseconds
      expect((d.created_at as Date).toISOString().slice(0, 23)).toBe(String(rows[i]!.created_at).slice(0, 23).replace(' ', 'T'));
      if (rows[i]!.expected_close_date !== null) expect((d.expected_close_date as Date).toISOString()).toBe(`${String(rows[i]!.expected_close_date)}T00:00:00.000Z`);
    });
    const accounts = stored('accounts');
    expect(accounts.some((d) => d.annual_revenue instanceof Decimal128)).toBe(true);
    expect(accounts.some((d) => d.annual_revenue === null)).toBe(true);
    expect(accounts.filter((d) => d.employee_count !== null).every((d) => d.employee_count instanceof Int32)).toBe(true);
    expect(stored('activities').filter((d) => d.duration_seconds !== null).every((d) => d.duration_seconds instanceof Int32)).toBe(true);
    expect(stored('users').every((d) => typeof d.is_active === 'boolean')).toBe(true);
  });

  it('embeds JSON columns as documents with int32 integers, and leaves deleted_at out unless deleted', () => {
    const contacts = stored('contacts', 1, 0.05);
    const fields = contacts.map((d) => d.custom_fields as Document | null).filter((f): f is Document => f !== null);
    expect(fields.length).toBeGreaterThan(0);
    expect(fields.every((f) => f.score instanceof Int32 && typeof f.source === 'string')).toBe(true);
    expect(fields.some((f) => Array.isArray(f.tags))).toBe(true);
    expect(contacts.some((d) => d.custom_fields === null)).toBe(true);
    expect(contacts.some((d) => !('deleted_at' in d))).toBe(true);
    expect(contacts.filter((d) => 'deleted_at' in d).every((d) => d.deleted_at instanceof Date && d.deleted_at > d.updated_at)).toBe(true);
    expect(contacts.some((d) => 'deleted_at' in d)).toBe(true);
  });

  it('gives the same bytes for the same seed and other bytes for another', () => {
    const bytes = (seed: number): string => [...generateDocuments('notes', { seed, counts: rowCounts(0.01) }, 100)].flat().map((d) => Buffer.from(BSON.serialize(d)).toString('hex')).join('');
    expect(bytes(1)).toBe(bytes(1));
    expect(bytes(2)).not.toBe(bytes(1));
  });
});
