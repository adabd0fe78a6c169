/**
 * PostgreSQL benchmark of issue 4: crm-backup against pg_dump/pg_restore on one throwaway
 * PostgreSQL 15 holding the reference CRM, in one run.
 *   npx tsx bench/postgres.ts [--scale 22] [--jobs 2] [--rate 4000] [--load-seconds 30] [--built]
 * Order matters: native baselines first (before the stream adds its slot, publication and DDL
 * capture to the source), then the stream is started before the snapshot so `restore --at` can
 * use it, then snapshot and restore, then the write load, then the point-in-time restore.
 * Exit 0 when every step ran and every restore matched its source; 1 otherwise. Missed targets
 * are reported in the table, not in the exit code: they are figures for a person to weigh.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg, totalmem } from 'node:os';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pgTableChecksums } from '../scripts/crm/index.js';
import { startOwnPostgres } from '../test/harness/index.js';
import { installCleanup, makeTempDir, removeTempDir } from './lib/cleanup.js';
import type { BenchContext } from './lib/context.js';
import { CrmCli, ROOT } from './lib/crm-cli.js';
import { dirBytes } from './lib/du.js';
import { LZ4_TOAST_ENV, pgDump, pgRestore } from './lib/native.js';
import { parsePgBenchArgs, USAGE, type PgBenchOptions } from './lib/options.js';
import { createDb } from './lib/pg.js';
import { figureRows, printTable, writeResults } from './lib/report.js';
import type { PgBenchResults } from './lib/results.js';
import { seedWithProgress } from './lib/seed.js';
import { restorePhase, snapshotPhase } from './lib/snapshot-phase.js';
import { loadPhase, startStreamPhase, stopStreamPhase } from './lib/stream-phase.js';
import { pitrPhase } from './lib/pitr-phase.js';
import { say, Steps } from './lib/steps.js';
import type { StreamWatch } from './lib/stream.js';

/**
 * For a 24 GiB machine and a ~1 GB database: the whole database fits in shared_buffers, and
 * neither the seed nor a restore is slowed by forced checkpoints. The harness already turns
 * durability off (fsync, synchronous_commit, full_page_writes) — for both sides alike.
 */
const SETTINGS = {
  shared_buffers: '1GB',
  max_wal_size: '4GB',
  checkpoint_timeout: '30min',
  maintenance_work_mem: '256MB',
  wal_level: 'logical',
};

function environment(opts: PgBenchOptions): PgBenchResults['environment'] {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    // not a git checkout: the figure still stands, only unattributed
  }
  return { node: process.version, cpus: availableParallelism(), memoryBytes: totalmem(), loadavgAtStart: loadavg(), cli: opts.built ? 'dist' : 'tsx', commit };
}

async function nativePhase(ctx: BenchContext, work: string): Promise<void> {
  const { steps, results, source, opts } = ctx;
  const z0 = join(work, 'crm-z0.dump');
  const fc = join(work, 'crm.dump');
  results.native.dumpZ0 = await steps.run('pg_dump -Fc -Z0', 'uncompressed custom-format dump (runs first: it warms the cache)', () => pgDump(source, z0, ['-Z0']));
  rmSync(z0, { force: true }); // a second 1 GB file on disk helps no one
  results.native.dump = await steps.run('pg_dump -Fc', 'custom-format dump, default compression', () => pgDump(source, fc, []));
  if (!results.native.dump) return steps.skip('pg_restore', 'no -Fc dump to restore');
  const first = await steps.run('pg_restore', `pg_restore -j${opts.jobs} into a fresh database (round 1)`, () =>
    pgRestore(ctx.serverUrl, 'crm_native', fc, opts.jobs),
  );
  const lz4 = await steps.run('pg_restore, lz4', `pg_restore -j${opts.jobs} with PGOPTIONS='${LZ4_TOAST_ENV.PGOPTIONS}' (round 1)`, () =>
    pgRestore(ctx.serverUrl, 'crm_native', fc, opts.jobs, LZ4_TOAST_ENV),
  );
  if (lz4 !== undefined) {
    results.native.restoreLz4Runs = [lz4];
    results.native.restoreLz4Seconds = lz4;
  }
  if (first !== undefined) {
    results.native.restoreRuns = [first];
    results.native.restoreSeconds = first;
    ctx.nativeDump = fc; // rounds 2.. alternate with crm-backup's restores (restorePhase)
  } else rmSync(fc, { force: true });
}

/** Steps 3-5; each step that cannot run for want of an earlier one says so. */
async function crmBackupPhases(ctx: BenchContext): Promise<void> {
  const { steps } = ctx;
  ctx.sourceBefore = await steps.run('source checksums', 'per-table checksums of the seeded source', () => pgTableChecksums(ctx.source));
  const inited = await steps.run('init', 'crm-backup init (password in CRM_BACKUP_PASSWORD)', () => ctx.cli.run(['init']));
  if (!inited) return steps.skip('snapshot', 'no repository');
  ctx.results.cliBaseline = await steps.run('CLI floor', 'crm-backup --version and list: start-up and repository open', async () => {
    const pick = (r: { seconds: number; peakRssBytes: number }): { seconds: number; peakRssBytes: number } => ({ seconds: r.seconds, peakRssBytes: r.peakRssBytes });
    return { version: pick(await ctx.cli.run(['--version'])), list: pick(await ctx.cli.run(['list'])) };
  });
  let watch: StreamWatch | undefined;
  try {
    watch = await startStreamPhase(ctx);
    const snapshotId = await snapshotPhase(ctx);
    if (snapshotId) await restorePhase(ctx, snapshotId);
    else steps.skip('restore', 'no snapshot');
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
    // only on an unexpected throw: a stream left running would hold the server's slot
    if (watch) await watch.stop(5_000);
  }
}

async function main(): Promise<number> {
  let opts: PgBenchOptions;
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    say(USAGE);
    return 0;
  }
  try {
    opts = parsePgBenchArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  installCleanup(); // before the harness installs its own handlers, so ours runs first
  const results: PgBenchResults = { startedAt: new Date().toISOString(), options: { ...opts }, environment: environment(opts), native: {}, steps: [] };
  const steps = new Steps();
  const work = makeTempDir('crmb-bench-pg-');
  say(`crm-backup PostgreSQL benchmark: scale ${opts.scale}, jobs ${opts.jobs}, ${results.environment.cpus} CPUs, CLI via ${results.environment.cli}`);
  say(`work folder ${work}`);
  const server = await startOwnPostgres({ settings: SETTINGS, timeoutMs: 120_000 });
  try {
    const source = await createDb(server.url, 'crm');
    const repoDir = join(work, 'repo');
    const cli = new CrmCli(repoDir, randomBytes(18).toString('base64url'), opts.built);
    const ctx: BenchContext = { serverUrl: server.url, source, repoDir, cli, opts, steps, results };
    results.seed = await steps.run('seed', `reference CRM at scale ${opts.scale}`, () => seedWithProgress(source, opts.scale, opts.seed));
    if (results.seed) {
      await nativePhase(ctx, work);
      await crmBackupPhases(ctx);
    }
  } finally {
    await server.stop();
    removeTempDir(work);
  }
  results.finishedAt = new Date().toISOString();
  results.steps = steps.records;
  say('\n== Figures' + (opts.scale < 20 ? ` (scale ${opts.scale}: NOT the 1 GB benchmark; ratios at small scale are dominated by process start-up)` : ''));
  printTable(figureRows(results), say);
  for (const f of steps.failed) say(`${f.name}: ${f.skipped ? 'SKIPPED' : 'FAILED'} — ${f.error ?? ''}`);
  say(`\nresults: ${writeResults(resolve(ROOT, 'bench/results'), results)}`);
  const wrong = [results.restore?.checksums, results.pitr?.checksums].some((c) => c !== undefined && !c.equal);
  return steps.failed.length > 0 || wrong ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench/postgres.ts: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
