/**
 * MySQL/MariaDB benchmark: crm-backup against mariadb-dump/mariadb and mydumper/myloader on one
 * throwaway MariaDB 10.11 holding the reference CRM, in one run.
 *   npx tsx bench/mysql.ts [--scale 24] [--jobs 2] [--rate 4000] [--load-seconds 30] [--built]
 * Order, as bench/postgres.ts: native baselines first (before the stream reads the binlog), then
 * the stream is started before the snapshot so `restore --at` can use it, then snapshot and
 * restore (alternating rounds with the native restores), then the write load, then the
 * point-in-time restore. Exit 0 when every step ran and every restore matched its source; 1
 * otherwise. Missed targets are reported in the table, not in the exit code.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { startOwnMariadb } from '../test/harness/index.js';
import { installCleanup, makeTempDir, removeTempDir } from './lib/cleanup.js';
import { CrmCli, ROOT } from './lib/crm-cli.js';
import { dirBytes } from './lib/du.js';
import { myCreateDb } from './lib/mysql.js';
import { mariadbDumpZstd, mariadbRestore, missingTool, mydumperDump, myloaderRestore, unzstd } from './lib/mysql-native.js';
import { MY_DEFAULT_SCALE, MY_USAGE, parseMyBenchArgs, type MyBenchOptions } from './lib/mysql-options.js';
import { myFigureRows } from './lib/mysql-report.js';
import type { MyBenchContext, MyBenchResults } from './lib/mysql-results.js';
import { seedMysqlWithProgress } from './lib/mysql-seed.js';
import { crmChecksums, myRestorePhase, myRestoreRounds, mySnapshotPhase, releaseNativeFiles } from './lib/mysql-snapshot-phase.js';
import { myLoadPhase, myPitrPhase, myStartStreamPhase, myStopStreamPhase } from './lib/mysql-stream-phase.js';
import { fmtBytes, printTable, writeResultsFile } from './lib/report.js';
import { say, Steps } from './lib/steps.js';
import type { StreamWatch } from './lib/stream.js';

/**
 * For a 24 GiB machine and a ~1 GB database: the source and a restored copy fit in the buffer
 * pool, and a 1 GiB redo log keeps a restore from waiting on checkpoints. The harness already
 * relaxes durability (innodb_flush_log_at_trx_commit=2, sync_binlog=0); the doublewrite buffer
 * goes too, as full_page_writes does in the PostgreSQL bench — for both sides alike.
 */
function serverSettings(opts: MyBenchOptions): Record<string, string> {
  return {
    'innodb-buffer-pool-size': opts.bufferPool,
    'innodb-log-file-size': '1G',
    'innodb-log-buffer-size': '64M',
    'innodb-doublewrite': '0',
    'innodb-io-capacity': '2000',
    'max-allowed-packet': '256M',
  };
}

const SOURCE_DB = 'crm';

function environment(opts: MyBenchOptions): MyBenchResults['environment'] {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout: the figure still stands, only unattributed
  }
  return { node: process.version, cpus: availableParallelism(), memoryBytes: totalmem(), loadavgAtStart: loadavg(), cli: opts.built ? 'dist' : 'tsx', commit };
}

/** Step 2: the native dumps and round 1 of their restores, before crm-backup touches the server. */
async function nativePhase(ctx: MyBenchContext, work: string): Promise<void> {
  const { steps, results, opts } = ctx;
  const zst = join(work, 'crm.sql.zst');
  const sql = join(work, 'crm.sql');
  results.native.dump = await steps.run('mariadb-dump', 'mariadb-dump --single-transaction | zstd -3, to one file', () => mariadbDumpZstd(ctx.source, zst));
  if (results.native.dump) {
    results.native.dumpSqlBytes = await steps.run('unzstd', 'the dump decompressed for the restore (not timed)', () => unzstd(zst, sql));
    rmSync(zst, { force: true }); // its size is recorded; the restores read the SQL
  }
  if (results.native.dumpSqlBytes !== undefined) {
    say(`   dump: ${fmtBytes(results.native.dump?.bytes ?? 0)} compressed, ${fmtBytes(results.native.dumpSqlBytes)} of SQL`);
    const first = await steps.run('mariadb restore', 'mariadb < dump.sql into a fresh database (round 1)', () => mariadbRestore(ctx.serverUrl, 'crm_native', sql));
    if (first !== undefined) {
      results.native.restoreRuns = [first];
      results.native.restoreSeconds = first;
      ctx.nativeSql = sql; // rounds 2.. alternate with crm-backup's restores
    } else rmSync(sql, { force: true });
  } else steps.skip('mariadb restore', 'no dump to restore');

  const missing = missingTool('mydumper') ?? missingTool('myloader');
  if (missing) {
    results.native.mydumperMissing = missing;
    say(`\n== mydumper / myloader: NOT RUN — ${missing}; the other figures follow`);
    return;
  }
  const dir = join(work, 'mydumper');
  mkdirSync(dir);
  results.native.mydumper = await steps.run('mydumper', `mydumper -t ${opts.jobs} -c, gzip files in a folder`, () => mydumperDump(ctx.source, dir, opts.jobs));
  if (!results.native.mydumper) return steps.skip('myloader', 'no mydumper folder to load');
  const loaded = await steps.run('myloader', `myloader -t ${opts.jobs} into a fresh database (round 1)`, () => myloaderRestore(ctx.serverUrl, 'crm_native', dir, opts.jobs));
  if (loaded !== undefined) {
    results.native.myloaderRuns = [loaded];
    results.native.myloaderSeconds = loaded;
    ctx.nativeMydumperDir = dir;
  } else rmSync(dir, { recursive: true, force: true });
}

/** Steps 3-5; each step that cannot run for want of an earlier one says so. */
async function crmBackupPhases(ctx: MyBenchContext): Promise<void> {
  const { steps } = ctx;
  ctx.sourceBefore = await steps.run('source checksums', 'per-table checksums of the seeded source', () => crmChecksums(ctx.source));
  const inited = await steps.run('init', 'crm-backup init (password in CRM_BACKUP_PASSWORD)', () => ctx.cli.run(['init']));
  if (inited) ctx.results.init = { seconds: inited.seconds, peakRssBytes: inited.peakRssBytes };
  else {
    steps.skip('snapshot', 'no repository');
    return myRestoreRounds(ctx, undefined);
  }
  ctx.results.cliBaseline = await steps.run('CLI floor', 'crm-backup --version and list: start-up and repository open', async () => {
    const pick = (r: { seconds: number; peakRssBytes: number }): { seconds: number; peakRssBytes: number } => ({ seconds: r.seconds, peakRssBytes: r.peakRssBytes });
    return { version: pick(await ctx.cli.run(['--version'])), list: pick(await ctx.cli.run(['list'])) };
  });
  let watch: StreamWatch | undefined;
  try {
    watch = await myStartStreamPhase(ctx);
    const snapshotId = await mySnapshotPhase(ctx);
    if (snapshotId) await myRestorePhase(ctx, snapshotId);
    else {
      steps.skip('restore', 'no snapshot');
      await myRestoreRounds(ctx, undefined); // the native rounds still give their medians
    }
    let loadEnd: string | undefined;
    if (watch) {
      loadEnd = await myLoadPhase(ctx, watch);
      await myStopStreamPhase(ctx, watch);
      watch = undefined;
    } else steps.skip('stream under load', 'the stream did not start');
    if (snapshotId && loadEnd) await myPitrPhase(ctx, loadEnd);
    else if (!snapshotId) steps.skip('restore --at', 'no snapshot');
    else steps.skip('restore --at', ctx.results.stream?.loadEnd ? 'the log does not cover E' : 'no stream under load');
    ctx.results.repoBytesFinal = dirBytes(ctx.repoDir);
  } finally {
    // only on an unexpected throw: a stream left running would hold a binlog dump thread
    if (watch) await watch.stop(5_000);
    releaseNativeFiles(ctx);
  }
}

async function main(): Promise<number> {
  let opts: MyBenchOptions;
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    say(MY_USAGE);
    return 0;
  }
  try {
    opts = parseMyBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  installCleanup(); // before the harness installs its own handlers, so ours runs first
  const settings = serverSettings(opts);
  const results: MyBenchResults = { startedAt: new Date().toISOString(), options: { ...opts }, environment: environment(opts), serverSettings: settings, native: {}, steps: [] };
  const steps = new Steps();
  const work = makeTempDir('crmb-bench-my-');
  say(`crm-backup MySQL/MariaDB benchmark: scale ${opts.scale}, jobs ${opts.jobs}, ${results.environment.cpus} CPUs, CLI via ${results.environment.cli}`);
  say(`work folder ${work}`);
  const server = await startOwnMariadb({ settings, timeoutMs: 180_000 });
  try {
    const source = await myCreateDb(server.url, SOURCE_DB);
    const repoDir = join(work, 'repo');
    const cli = new CrmCli(repoDir, randomBytes(18).toString('base64url'), opts.built);
    const ctx: MyBenchContext = { serverUrl: server.url, source, repoDir, cli, opts, steps, results };
    results.seed = await steps.run('seed', `reference CRM at scale ${opts.scale}`, () => seedMysqlWithProgress(source, opts.scale, opts.seed));
    if (results.seed) {
      if (results.seed.size.data < 1e9) say(`   table data is ${fmtBytes(results.seed.size.data)}: under the 1 GB of the benchmark (--scale ${MY_DEFAULT_SCALE} gives it)`);
      await nativePhase(ctx, work);
      await crmBackupPhases(ctx);
    }
  } finally {
    await server.stop();
    removeTempDir(work);
  }
  results.finishedAt = new Date().toISOString();
  results.steps = steps.records;
  const small = (results.seed?.size.data ?? 0) < 1e9;
  say('\n== Figures' + (small ? ` (scale ${opts.scale}: NOT the 1 GB benchmark; ratios at small scale are dominated by process start-up)` : ''));
  const rows = myFigureRows(results);
  printTable(rows, say);
  for (const f of steps.failed) say(`${f.name}: ${f.skipped ? 'SKIPPED' : 'FAILED'} — ${f.error ?? ''}`);
  say(`\nresults: ${writeResultsFile(resolve(ROOT, 'bench/results'), 'mysql', results, rows)}`);
  const wrong = [results.restore?.checksums, results.pitr?.checksums].some((c) => c !== undefined && !c.equal);
  return steps.failed.length > 0 || wrong ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench/mysql.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
