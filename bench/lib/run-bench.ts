/**
 * One run of a database benchmark (bench/postgres.ts, bench/mysql.ts, bench/mongodb.ts), whatever the database:
 *  1. seed the reference CRM on a throwaway server;
 *  2. the native baselines (the database's own phase), before crm-backup touches the server;
 *  3. `init`, the CLI floor, the stream started before the snapshot (so `restore --at` can use
 *     it), snapshot and restore, alternating rounds with the native restores;
 *  4. the stream under a write load;
 *  5. `restore --at E`;
 *  6. the table, and bench/results/<name>-<timestamp>.json.
 * Exit 0 when every step ran and every restore matched its source; 1 otherwise; 2 on bad options.
 * Missed targets are reported in the table, not in the exit code: they are figures for a person
 * to weigh. Each step that cannot run for want of an earlier one says so and the run goes on.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { ThrowawayServer } from '../../test/harness/index.js';
import type { BenchDb } from './bench-db.js';
import { installCleanup, makeTempDir, removeTempDir } from './cleanup.js';
import type { BenchContext } from './context.js';
import { CrmCli, ROOT } from './crm-cli.js';
import { dirBytes } from './du.js';
import type { BenchOptions } from './options.js';
import { pitrPhase } from './pitr-phase.js';
import { printTable, writeResultsFile, type Row } from './report.js';
import type { BenchResults } from './results.js';
import { releaseNativeFiles, restorePhase, restoreRounds, snapshotPhase } from './snapshot-phase.js';
import { say, Steps } from './steps.js';
import type { StreamWatch } from './stream.js';
import { loadPhase, startStreamPhase, stopStreamPhase } from './stream-phase.js';

/** The fields every run's results start with. */
export type CommonStart = Pick<BenchResults, 'startedAt' | 'options' | 'environment'>;

/** The server a run uses: the harness's throwaway one, or (MongoDB) one given by URL; `stop` removes what the run left. */
export type BenchServer = Pick<ThrowawayServer, 'url' | 'stop'>;

/** What a database's benchmark brings to the common run. */
export interface BenchSpec<O extends BenchOptions, R extends BenchResults> {
  /** The database in the first line: `PostgreSQL`, `MySQL/MariaDB`. */
  readonly title: string;
  /** bench/<name>.ts, bench/results/<name>-<timestamp>.json. */
  readonly name: string;
  /** The temp folder's prefix. */
  readonly tempPrefix: string;
  readonly usage: string;
  parseArgs(argv: readonly string[]): O;
  /**
   * The runs one invocation makes, each a whole run (its own server, seed, phases, table and
   * results file) with its options and its dataset's label; default: one unlabelled run.
   * PostgreSQL's `--dataset both` runs the reference CRM, then the shapes dataset.
   */
  runs?(opts: O): ReadonlyArray<{ readonly opts: O; readonly label: string }>;
  readonly db: BenchDb;
  /** The throwaway server, with the benchmark's settings; its error ends the run in one sentence (exit 1). */
  startServer(opts: O): Promise<BenchServer>;
  /**
   * Why the benchmark cannot run at all here (MongoDB: no server given), as the one line it then
   * prints before exiting 0; undefined when it can run.
   */
  notRun?(opts: O): string | undefined;
  /** The results before the first step: `common` and the benchmark's own fields, `native` empty. */
  newResults(common: CommonStart, opts: O): R;
  /** Step 1 (run as the step `seed`). */
  seed(source: string, opts: O): Promise<NonNullable<R['seed']>>;
  /** Called once the seed succeeded, for what its figures mean to the run. */
  afterSeed?(results: R): void;
  /** Whether the run has the benchmark's size; if not, the table's heading says its ratios mean little. */
  fullSize(results: R, opts: O): boolean;
  /** Step 2; sets ctx.nativeRounds for the rounds of step 3. */
  nativePhase(ctx: BenchContext<O, R>, work: string): Promise<void>;
  figureRows(results: R): Row[];
}

function environment(opts: BenchOptions): BenchResults['environment'] {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout: the figure still stands, only unattributed
  }
  return { node: process.version, cpus: availableParallelism(), memoryBytes: totalmem(), loadavgAtStart: loadavg(), cli: opts.built ? 'dist' : 'tsx', commit };
}

/** Steps 3-5; each step that cannot run for want of an earlier one says so. */
async function crmBackupPhases(ctx: BenchContext): Promise<void> {
  const { steps } = ctx;
  ctx.sourceBefore = await steps.run('source checksums', 'per-table checksums of the seeded source', () => ctx.db.checksums(ctx.source));
  const inited = await steps.run('init', 'crm-backup init (password in CRM_BACKUP_PASSWORD)', () => ctx.cli.run(['init']));
  if (inited) ctx.results.init = { seconds: inited.seconds, peakRssBytes: inited.peakRssBytes };
  else {
    steps.skip('snapshot', 'no repository');
    return restoreRounds(ctx, undefined); // the native rounds still give their medians
  }
  ctx.results.cliBaseline = await steps.run('CLI floor', 'crm-backup --version and list: start-up and repository open', async () => {
    const pick = (r: { seconds: number; peakRssBytes: number }): { seconds: number; peakRssBytes: number } => ({ seconds: r.seconds, peakRssBytes: r.peakRssBytes });
    return { version: pick(await ctx.cli.run(['--version'])), list: pick(await ctx.cli.run(['list'])) };
  });
  let watch: StreamWatch | undefined;
  try {
    watch = await startStreamPhase(ctx);
    const snapshotId = await snapshotPhase(ctx);
    if (snapshotId) await restorePhase(ctx, snapshotId);
    else {
      steps.skip('restore', 'no snapshot');
      await restoreRounds(ctx, undefined); // the native rounds still give their medians
    }
    let loadEnd: string | undefined;
    if (watch) {
      loadEnd = await loadPhase(ctx, watch);
      await stopStreamPhase(ctx, watch);
      watch = undefined;
    } else steps.skip('stream under load', 'the stream did not start');
    if (snapshotId && loadEnd) await pitrPhase(ctx, loadEnd);
    else if (!snapshotId) steps.skip('restore --at', 'no snapshot');
    else steps.skip('restore --at', ctx.results.stream?.loadEnd ? 'the log does not cover E' : 'no stream under load');
    ctx.results.repoBytesFinal = dirBytes(ctx.repoDir);
  } finally {
    // only on an unexpected throw: a stream left running would hold the server's slot or binlog dump thread
    if (watch) await watch.stop(5_000);
    releaseNativeFiles(ctx);
  }
}

async function main<O extends BenchOptions, R extends BenchResults>(spec: BenchSpec<O, R>): Promise<number> {
  let opts: O;
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    say(spec.usage);
    return 0;
  }
  try {
    opts = spec.parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const notRun = spec.notRun?.(opts);
  if (notRun !== undefined) {
    say(notRun);
    return 0;
  }
  installCleanup(); // before the harness installs its own handlers, so ours runs first
  let code = 0;
  for (const run of spec.runs?.(opts) ?? [{ opts, label: '' }]) code = Math.max(code, await runOne(spec, run.opts, run.label));
  return code;
}

/** One whole run; `label` (a dataset) names it in the first line, the seed step and the results file. */
async function runOne<O extends BenchOptions, R extends BenchResults>(spec: BenchSpec<O, R>, opts: O, label: string): Promise<number> {
  const options: BenchOptions = opts; // the benchmark's own options (MySQL's --buffer-pool) are spread in too
  const results = spec.newResults({ startedAt: new Date().toISOString(), options: { ...options }, environment: environment(opts) }, opts);
  const steps = new Steps();
  const work = makeTempDir(spec.tempPrefix);
  say(`crm-backup ${spec.title} benchmark${label ? `, dataset ${label}` : ''}: scale ${opts.scale}, jobs ${opts.jobs}, ${results.environment.cpus} CPUs, CLI via ${results.environment.cli}`);
  say(`work folder ${work}`);
  const server = await spec.startServer(opts);
  try {
    const source = await spec.db.createDb(server.url, 'crm');
    const repoDir = join(work, 'repo');
    const cli = new CrmCli(repoDir, randomBytes(18).toString('base64url'), opts.built);
    const ctx: BenchContext<O, R> = { db: spec.db, serverUrl: server.url, source, repoDir, cli, opts, steps, results };
    results.seed = await steps.run('seed', `${label || 'reference'} CRM at scale ${opts.scale}`, () => spec.seed(source, opts));
    if (results.seed) {
      spec.afterSeed?.(results);
      await spec.nativePhase(ctx, work);
      await crmBackupPhases(ctx);
    }
  } finally {
    await server.stop();
    removeTempDir(work);
  }
  results.finishedAt = new Date().toISOString();
  results.steps = steps.records;
  const small = !spec.fullSize(results, opts);
  say('\n== Figures' + (small ? ` (scale ${opts.scale}: NOT the 1 GB benchmark; ratios at small scale are dominated by process start-up)` : ''));
  const rows = spec.figureRows(results);
  printTable(rows, say);
  for (const f of steps.failed) say(`${f.name}: ${f.skipped ? 'SKIPPED' : 'FAILED'} — ${f.error ?? ''}`);
  say(`\nresults: ${writeResultsFile(resolve(ROOT, 'bench/results'), label && label !== 'reference' ? `${spec.name}-${label}` : spec.name, results, rows)}`);
  const wrong = [results.restore?.checksums, results.pitr?.checksums].some((c) => c !== undefined && !c.equal);
  return steps.failed.length > 0 || wrong ? 1 : 0;
}

/** Runs the benchmark and exits with its code. */
export function runBench<O extends BenchOptions, R extends BenchResults>(spec: BenchSpec<O, R>): void {
  main(spec).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench/${spec.name}.ts: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
