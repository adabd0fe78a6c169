/**
 * PostgreSQL benchmark of issue 4: crm-backup against pg_dump/pg_restore on one throwaway
 * PostgreSQL 15 holding the reference CRM, in one run.
 *   npx tsx bench/postgres.ts [--dataset reference|shapes|both] [--scale 22] [--jobs 2] [--rate 4000] [--load-seconds 30] [--built]
 * Order matters: native baselines first (before the stream adds its slot, publication and DDL
 * capture to the source), then the stream is started before the snapshot so `restore --at` can
 * use it, then snapshot and restore, then the write load, then the point-in-time restore
 * (lib/run-bench.ts runs the steps every database shares; this file holds PostgreSQL's own).
 * Exit 0 when every step ran and every restore matched its source; 1 otherwise. Missed targets
 * are reported in the table, not in the exit code: they are figures for a person to weigh.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startOwnPostgres } from '../test/harness/index.js';
import type { BenchContext, NativeRestore } from './lib/context.js';
import { LZ4_TOAST_ENV, pgDump, pgRestore } from './lib/native.js';
import { seedShapes, SHAPES_TABLES } from '../scripts/crm/index.js';
import { parsePgBenchArgs, USAGE, type PgBenchOptions } from './lib/options.js';
import { postgresDb, postgresSeed } from './lib/postgres-db.js';
import { contextRatio, figureTable, fmtBytes, fmtSec, info, ratioRow, roundsNote, snapshotRoundsNote, type Row } from './lib/report.js';
import type { PgBenchResults } from './lib/results.js';
import { ROOT } from './lib/crm-cli.js';
import { formatRun, parseServerLog, summarizeRuns } from './lib/pg-timeline.js';
import { runBench, type BenchServer } from './lib/run-bench.js';
import { say } from './lib/steps.js';
import { seedWithProgress } from './lib/seed.js';

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
  // where each restore's server time goes (lib/pg-timeline.ts): statements of 100 ms or more,
  // with their session and database
  log_min_duration_statement: '100',
  log_line_prefix: '%m [%p] %d ',
};

/**
 * The server, whose stop first keeps its log in bench/results and prints each restore's server
 * time per kind of statement (loads, index and key builds, foreign keys, statistics).
 */
async function pgServer(opts: PgBenchOptions): Promise<BenchServer> {
  const server = await startOwnPostgres({ settings: SETTINGS, timeoutMs: 120_000 });
  return {
    url: server.url,
    stop: async () => {
      try {
        const log = join(server.dataDir, 'server.log');
        if (existsSync(log)) {
          const dir = resolve(ROOT, 'bench/results');
          mkdirSync(dir, { recursive: true });
          const stamp = new Date().toISOString().replace(/[:.]/g, '-');
          const kept = join(dir, `postgres${opts.dataset === 'shapes' ? '-shapes' : ''}-${stamp}-server.log`);
          copyFileSync(log, kept);
          const runs = summarizeRuns(parseServerLog(readFileSync(log, 'utf8')), (db) => db.startsWith('crm_'));
          say('\n== server time per restore (statements of 100 ms or more; npx tsx bench/pg-timeline.ts <log>)');
          for (const r of runs) say(`   ${formatRun(r)}`);
          say(`   server log: ${kept}`);
        }
      } finally {
        await server.stop();
      }
    },
  };
}

/** Step 2: the dumps and round 1 of pg_restore (as is, and with lz4 TOAST), before crm-backup touches the server. */
async function nativePhase(ctx: BenchContext<PgBenchOptions, PgBenchResults>, work: string): Promise<void> {
  const { steps, results, source, opts, serverUrl } = ctx;
  const native = results.native;
  const z0 = join(work, 'crm-z0.dump');
  const fc = join(work, 'crm.dump');
  native.dumpZ0 = await steps.run('pg_dump -Fc -Z0', 'uncompressed custom-format dump (runs first: it warms the cache)', () => pgDump(source, z0, ['-Z0']));
  rmSync(z0, { force: true }); // a second 1 GB file on disk helps no one
  native.dump = await steps.run('pg_dump -Fc', 'custom-format dump, default compression', () => pgDump(source, fc, []));
  if (native.dump) {
    const runs = [native.dump.seconds];
    const scratch = join(work, 'crm-round.dump');
    const dump = async (): Promise<number> => {
      try {
        return (await pgDump(source, scratch, [])).seconds;
      } finally {
        rmSync(scratch, { force: true });
      }
    };
    // rounds 2.. alternate with crm-backup's snapshots (snapshotRounds)
    ctx.nativeDumps = [{ label: 'pg_dump -Fc', runs, dump, settle: (m) => (native.dump = native.dump && { ...native.dump, seconds: m, runs }) }];
  }
  if (!native.dump) return steps.skip('pg_restore', 'no -Fc dump to restore');
  const first = await steps.run('pg_restore', `pg_restore -j${opts.jobs} into a fresh database (round 1)`, () =>
    pgRestore(serverUrl, 'crm_native', fc, opts.jobs),
  );
  const lz4 = await steps.run('pg_restore, lz4', `pg_restore -j${opts.jobs} with PGOPTIONS='${LZ4_TOAST_ENV.PGOPTIONS}' (round 1)`, () =>
    pgRestore(serverUrl, 'crm_native_lz4', fc, opts.jobs, LZ4_TOAST_ENV),
  );
  if (lz4 !== undefined) {
    native.restoreLz4Runs = [lz4];
    native.restoreLz4Seconds = lz4;
  }
  if (first === undefined) {
    rmSync(fc, { force: true });
    return;
  }
  native.restoreRuns = [first];
  native.restoreSeconds = first;
  // rounds 2.. alternate with crm-backup's restores (restoreRounds)
  const restores: NativeRestore[] = [
    { label: 'pg_restore', runs: native.restoreRuns, restore: () => pgRestore(serverUrl, 'crm_native', fc, opts.jobs), settle: (m) => (native.restoreSeconds = m) },
  ];
  if (native.restoreLz4Runs) {
    const restore = (): Promise<number> => pgRestore(serverUrl, 'crm_native_lz4', fc, opts.jobs, LZ4_TOAST_ENV);
    // quiet: the medians line names pg_restore and crm-backup only
    restores.push({ label: 'pg_restore lz4', runs: native.restoreLz4Runs, restore, settle: (m) => (native.restoreLz4Seconds = m), quiet: true });
  }
  ctx.nativeRounds = { what: 'pg_restore / crm-backup restore pairs', restores, files: [fc] };
}

function figureRows(r: PgBenchResults): Row[] {
  const rounds = roundsNote(r);
  return figureTable(r, {
    comparisons: [
      ratioRow(`snapshot --jobs 2, wall time${snapshotRoundsNote(r)}`, r.snapshot?.seconds, r.native.dump?.seconds, 0.6, fmtSec, 'pg_dump -Fc'),
      ratioRow('repository bytes after snapshot', r.snapshot?.repoBytes, r.native.dump?.bytes, 1, fmtBytes, 'pg_dump -Fc'),
      ratioRow(`restore --snapshot --jobs 2, wall time${rounds}`, r.restore?.seconds, r.native.restoreSeconds, 1, fmtSec, 'pg_restore -j2'),
      // against pg_restore with lz4 TOAST compression, as crm-backup loads: not a target, the fair ratio
      contextRatio('restore, like for like', r.restore?.seconds, r.native.restoreLz4Seconds, fmtSec, 'pg_restore -j2, lz4 TOAST'),
    ],
    catchUp: 'stream: catch-up after load end',
    natives: [info('pg_dump -Fc -Z0', r.native.dumpZ0 ? `${fmtSec(r.native.dumpZ0.seconds)}, ${fmtBytes(r.native.dumpZ0.bytes)}` : 'FAILED')],
  });
}

/** The shapes dataset (scripts/crm/shapes, issue 15) is seeded by COPY instead of seedCrm. */
const shapesSeed = { ...postgresSeed, fill: seedShapes, tables: SHAPES_TABLES };

runBench<PgBenchOptions, PgBenchResults>({
  title: 'PostgreSQL',
  name: 'postgres',
  tempPrefix: 'crmb-bench-pg-',
  usage: USAGE,
  parseArgs: parsePgBenchArgs,
  // `both` is two whole runs in turn, each on its own server: the phases stay one dataset's each
  runs: (opts) => (opts.dataset === 'both' ? (['reference', 'shapes'] as const) : [opts.dataset]).map((d) => ({ opts: { ...opts, dataset: d }, label: d })),
  db: postgresDb,
  startServer: pgServer,
  newResults: (common) => ({ ...common, native: {}, steps: [] }),
  seed: (source, opts) => seedWithProgress(opts.dataset === 'shapes' ? shapesSeed : postgresSeed, source, opts.scale, opts.seed),
  fullSize: (_results, opts) => opts.scale >= 20,
  nativePhase,
  figureRows,
});
