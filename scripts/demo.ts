/**
 * npm run demo: the product's story end to end on local defaults.
 * A throwaway PostgreSQL, the reference CRM, a snapshot, a change stream under a live workload,
 * an "accidental" mass DELETE, and a point-in-time restore to the instant before it, judged by
 * per-table checksums. Every step runs the real `crm-backup` CLI, as a DBA would.
 * `npm run demo -- --mysql` tells the same story on a throwaway MariaDB (binlog stream).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { ResultSetHeader } from 'mysql2';
import { myCreateDb, myQuery, myServerNow } from '../bench/lib/mysql.js';
import { createDb, query, serverNow } from '../bench/lib/pg.js';
import { startOwnMariadb, startOwnPostgres, type ThrowawayServer } from '../test/harness/index.js';
import { mysqlTableChecksums, pgTableChecksums, type TableChecksum } from './crm/checksums.js';
import { describeSeed, repeatLines, verdict } from './crm/demo-report.js';
import { seedCrm } from './crm/seed.js';
import { runWorkload } from './crm/workload.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = resolve(ROOT, 'src/cli/bin.ts');
const TSX = resolve(ROOT, 'node_modules/.bin/tsx');
// CRMB_DEMO_DIR: the test of the demo runs it in a folder of its own
const WORK = resolve(process.env.CRMB_DEMO_DIR ?? resolve(ROOT, '.crm-backup-demo'));
const SCALE = Number(process.env.CRMB_DEMO_SCALE ?? '0.05');

const say = (text: string): void => void process.stdout.write(`${text}\n`);
const step = (n: number, text: string): void => say(`\n[${n}/9] ${text}`);

function cli(args: string[], env: NodeJS.ProcessEnv, echo = true): ChildProcess {
  if (echo) say(`  $ crm-backup ${args.join(' ')}`);
  return spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

async function run(args: string[], env: NodeJS.ProcessEnv, echo = true): Promise<string> {
  const child = cli(args, env, echo);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0)
    throw new Error(`crm-backup ${args[0]} exited ${code}: ${err.trim().split('\n').at(-1) ?? ''}`);
  return out.trim();
}

/** What the story needs of a database engine. */
interface Engine {
  readonly server: string;
  readonly log: string;
  start(): Promise<ThrowawayServer>;
  /** A new database on the server; returns its URL. */
  createDb(serverUrl: string, name: string): Promise<string>;
  checksums(url: string): Promise<Record<string, TableChecksum>>;
  /**
   * The instant to restore to, read from the server's clock once the good state is committed.
   * Resolves only when a commit made after it can no longer fall at or before it at the log's
   * resolution (MariaDB's binlog times are whole seconds: wait for the next second).
   */
  target(url: string): Promise<string>;
  deleteContacts(url: string): Promise<number>;
}

const POSTGRES: Engine = {
  server: 'PostgreSQL 15 (wal_level=logical)',
  log: 'logical decoding',
  start: () => startOwnPostgres(),
  createDb,
  checksums: (url) => pgTableChecksums(url),
  // clock_timestamp() is read before the DELETE begins, so the DELETE commits after it
  target: (url) => serverNow(url),
  async deleteContacts(url) {
    const [row] = await query<{ n: string }>(
      url,
      'WITH d AS (DELETE FROM contacts RETURNING 1) SELECT count(*) AS n FROM d',
    );
    return Number(row!.n);
  },
};

const MARIADB: Engine = {
  server: 'MariaDB 10.11 (binlog_format=ROW, binlog_row_image=FULL)',
  log: 'the binlog',
  start: () => startOwnMariadb(),
  createDb: myCreateDb,
  checksums: (url) => mysqlTableChecksums(url),
  async target(url) {
    const t = await myServerNow(url);
    // polls the server's clock until its second is over
    while ((await myServerNow(url)).slice(0, 19) === t.slice(0, 19)) await sleep(20);
    return t;
  },
  async deleteContacts(url) {
    // a DELETE's result is mysql2's ResultSetHeader, not rows
    const result = (await myQuery(url, 'DELETE FROM contacts')) as unknown as ResultSetHeader;
    return result.affectedRows;
  },
};

async function main(): Promise<number> {
  const engine = process.argv.includes('--mysql') || process.argv.includes('--mariadb') ? MARIADB : POSTGRES;
  say('crm-backup demo: point-in-time restore of a CRM after an accidental mass DELETE');
  await rm(WORK, { recursive: true, force: true });
  await mkdir(WORK, { recursive: true });

  step(1, `Starting a throwaway ${engine.server} in a temporary folder`);
  const server = await engine.start();
  let stream: ChildProcess | undefined;
  try {
    const source = await engine.createDb(server.url, 'crm');
    const restored = await engine.createDb(server.url, 'crm_restored');
    say(`  source ${source}`);

    step(2, `Creating the reference CRM schema and seeding it (scale ${SCALE})`);
    const seeded = await seedCrm(source, { scale: SCALE, seed: 42 });
    // every table, as crm-backup counts them: the CRM's and knex's migration bookkeeping
    const seededRows = Object.fromEntries(
      Object.entries(await engine.checksums(source)).map(([t, sum]) => [t, sum.rows]),
    );
    say(`  ${describeSeed(Object.keys(seeded.rows), seededRows)}`);

    step(3, 'Creating an encrypted repository');
    const password = randomBytes(18).toString('base64url');
    const passwordFile = resolve(WORK, 'password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    const env = { ...process.env, CRM_BACKUP_REPO: resolve(WORK, 'repo'), CRM_BACKUP_PASSWORD: password };
    say(`  repository ${env.CRM_BACKUP_REPO}`);
    say(`  generated password (shown once, kept in ${passwordFile}): ${password}`);
    say('  to repeat the commands below in another shell (the database lives only while the demo runs):');
    for (const line of repeatLines({ repo: env.CRM_BACKUP_REPO, passwordFile, tsx: TSX, bin: CLI }))
      say(`  $ ${line}`);
    await run(['init'], env);

    step(4, `Streaming the change log (${engine.log}) in the background`);
    stream = cli(['stream', '--source', source, '--segment-seconds', '2'], env);
    let streamLog = '';
    stream.stderr!.on('data', (d: Buffer) => (streamLog += d));
    const exited = new Promise<number | null>((r) => stream!.on('close', r));
    for (let i = 0; i < 300 && !/stream\.start|Streaming /.test(streamLog); i++) {
      if (stream.exitCode !== null)
        throw new Error(`the stream exited early: ${streamLog.trim().split('\n').at(-1)}`);
      await sleep(100);
    }

    step(5, 'Taking a consistent snapshot');
    const snapshotId = await run(['snapshot', '--source', source, '--tag', 'demo'], env);
    say(`  snapshot ${snapshotId}`);

    step(6, 'Running the CRM write workload (inserts, updates, deletes, multi-row transactions)');
    const before = await runWorkload(source, { ratePerSecond: 150, durationMs: 6000, seed: 7 });
    say(`  ${before.total} operations, ${before.rowsChanged} rows changed`);
    const good = await engine.checksums(source);
    const target = await engine.target(source);

    step(7, 'The accident: DELETE FROM contacts; (no WHERE clause), while the workload goes on');
    const n = await engine.deleteContacts(source);
    say(`  ${n} contacts deleted (notes cascaded, deals and activities lost their contact)`);
    await runWorkload(source, { ratePerSecond: 150, durationMs: 2000, seed: 8 });
    say(`  waiting for the stream to store the log past ${target} (what "crm-backup list --json" reports)`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const listing = JSON.parse(await run(['list', '--json'], env, false)) as Array<{
        restorable: Array<{ to: string }>;
      }>;
      const to = listing[0]?.restorable.at(-1)?.to;
      if (to && to > target) break;
      if (Date.now() > deadline)
        throw new Error('the stream did not store a segment covering the target time within 30 s');
      await sleep(1000);
    }
    stream.kill('SIGINT');
    const streamCode = await exited;
    stream = undefined;
    if (streamCode !== 0)
      throw new Error(`the stream exited ${streamCode} on SIGINT: ${streamLog.trim().split('\n').at(-1)}`);
    say('  stream stopped cleanly on SIGINT: open segment stored and acknowledged (exit 0)');
    for (const line of (await run(['list'], env)).split('\n')) say(`    ${line}`);

    step(8, `Restoring the CRM as it was at ${target}, just before the DELETE`);
    await run(['restore', '--target', restored, '--at', target, '--jobs', '2'], env);

    step(9, 'Verdict: per-table checksums of ordered rows, restored vs. the source just before the DELETE');
    const result = verdict(good, await engine.checksums(restored));
    for (const line of result.lines) say(`  ${line}`);
    say(`\n${result.summary}`);
    return result.exact ? 0 : 1;
  } finally {
    stream?.kill('SIGKILL');
    await server.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`\ndemo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
