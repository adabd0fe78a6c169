/**
 * MySQL/MariaDB benchmark: crm-backup against mariadb-dump/mariadb and mydumper/myloader on one
 * throwaway MariaDB 10.11 holding the reference CRM, in one run.
 *   npx tsx bench/mysql.ts [--scale 24] [--jobs 2] [--rate 4000] [--load-seconds 30] [--built]
 * Order, as bench/postgres.ts: native baselines first (before the stream reads the binlog), then
 * the stream is started before the snapshot so `restore --at` can use it, then snapshot and
 * restore (alternating rounds with the native restores), then the write load, then the
 * point-in-time restore (lib/run-bench.ts runs the steps every database shares; this file holds
 * MariaDB's own). Exit 0 when every step ran and every restore matched its source; 1 otherwise.
 * Missed targets are reported in the table, not in the exit code.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startOwnMariadb } from '../test/harness/index.js';
import type { BenchContext, NativeDump } from './lib/context.js';
import { mariadbDumpZstd, mariadbRestore, missingTool, mydumperDump, myloaderRestore, unzstd } from './lib/mysql-native.js';
import { mysqlDb, seedMysqlWithProgress } from './lib/mysql-db.js';
import { MY_DEFAULT_SCALE, MY_USAGE, parseMyBenchArgs, type MyBenchOptions } from './lib/mysql-options.js';
import { figureTable, fmtBytes, fmtSec, info, ratioRow, roundsNote, snapshotRoundsNote, type Row } from './lib/report.js';
import type { MyBenchResults } from './lib/results.js';
import { runBench } from './lib/run-bench.js';
import { say } from './lib/steps.js';

type Ctx = BenchContext<MyBenchOptions, MyBenchResults>;

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

/** `mariadb-dump | zstd` and round 1 of `mariadb < dump.sql`; the SQL file is kept when that round ran. */
async function mariadbDumpPhase(ctx: Ctx, zst: string, sql: string): Promise<void> {
  const { steps, results } = ctx;
  results.native.dump = await steps.run('mariadb-dump', 'mariadb-dump --single-transaction | zstd -3, to one file', () => mariadbDumpZstd(ctx.source, zst));
  if (results.native.dump) {
    results.native.dumpSqlBytes = await steps.run('unzstd', 'the dump decompressed for the restore (not timed)', () => unzstd(zst, sql));
    rmSync(zst, { force: true }); // its size is recorded; the restores read the SQL
  }
  if (results.native.dumpSqlBytes === undefined) return steps.skip('mariadb restore', 'no dump to restore');
  say(`   dump: ${fmtBytes(results.native.dump?.bytes ?? 0)} compressed, ${fmtBytes(results.native.dumpSqlBytes)} of SQL`);
  const first = await steps.run('mariadb restore', 'mariadb < dump.sql into a fresh database (round 1)', () => mariadbRestore(ctx.serverUrl, 'crm_native', sql));
  if (first !== undefined) {
    results.native.restoreRuns = [first];
    results.native.restoreSeconds = first;
  } else rmSync(sql, { force: true });
}

/** `mydumper -t N -c` and round 1 of `myloader -t N`; the folder is kept when that round ran. */
async function mydumperPhase(ctx: Ctx, dir: string): Promise<void> {
  const { steps, results, opts } = ctx;
  const missing = missingTool('mydumper') ?? missingTool('myloader');
  if (missing) {
    results.native.mydumperMissing = missing;
    say(`\n== mydumper / myloader: NOT RUN — ${missing}; the other figures follow`);
    return;
  }
  mkdirSync(dir);
  results.native.mydumper = await steps.run('mydumper', `mydumper -t ${opts.jobs} -c, gzip files in a folder`, () => mydumperDump(ctx.source, dir, opts.jobs));
  if (!results.native.mydumper) return steps.skip('myloader', 'no mydumper folder to load');
  const loaded = await steps.run('myloader', `myloader -t ${opts.jobs} into a fresh database (round 1)`, () => myloaderRestore(ctx.serverUrl, 'crm_native', dir, opts.jobs));
  if (loaded !== undefined) {
    results.native.myloaderRuns = [loaded];
    results.native.myloaderSeconds = loaded;
  } else rmSync(dir, { recursive: true, force: true });
}

/** Step 2: the native dumps and round 1 of their restores, before crm-backup touches the server. */
async function nativePhase(ctx: Ctx, work: string): Promise<void> {
  const sql = join(work, 'crm.sql');
  const dir = join(work, 'mydumper');
  await mariadbDumpPhase(ctx, join(work, 'crm.sql.zst'), sql);
  await mydumperPhase(ctx, dir);
  // rounds 2.. of the dumps alternate with crm-backup's snapshots (snapshotRounds)
  const { native: n } = ctx.results;
  const scratch = join(work, 'round');
  const timed = async (f: () => Promise<{ seconds: number }>): Promise<number> => {
    try {
      return (await f()).seconds;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  };
  const dumps: NativeDump[] = [];
  if (n.dump) {
    const runs = [n.dump.seconds];
    const dump = (): Promise<number> => timed(() => mariadbDumpZstd(ctx.source, scratch));
    dumps.push({ label: 'mariadb-dump | zstd', runs, dump, settle: (m) => (n.dump = n.dump && { ...n.dump, seconds: m, runs }) });
  }
  if (n.mydumper) {
    const runs = [n.mydumper.seconds];
    const dump = (): Promise<number> => timed(() => (mkdirSync(scratch), mydumperDump(ctx.source, scratch, ctx.opts.jobs)));
    dumps.push({ label: 'mydumper', runs, dump, settle: (m) => (n.mydumper = n.mydumper && { ...n.mydumper, seconds: m, runs }) });
  }
  ctx.nativeDumps = dumps;
  // rounds 2.. alternate with crm-backup's restores (restoreRounds); a tool that did not run shows —
  const { native } = ctx.results;
  const { serverUrl, opts } = ctx;
  ctx.nativeRounds = {
    what: 'rounds of mariadb < dump.sql / myloader / crm-backup restore',
    restores: [
      { label: 'mariadb', runs: native.restoreRuns, restore: () => mariadbRestore(serverUrl, 'crm_native', sql), settle: (m) => (native.restoreSeconds = m) },
      { label: 'myloader', runs: native.myloaderRuns, restore: () => myloaderRestore(serverUrl, 'crm_native', dir, opts.jobs), settle: (m) => (native.myloaderSeconds = m) },
    ],
    files: [sql, dir],
  };
}

/** Targets of issue #12: snapshot ≤ 1.0× both dumpers, bytes ≤ the zstd file, restore ≤ 0.5× mariadb and ≤ 1.0× myloader. */
function figureRows(r: MyBenchResults): Row[] {
  const n = r.native;
  const j = String(r.options.jobs ?? 2);
  const rounds = roundsNote(r);
  const missing = n.mydumperMissing;
  const dumper = (row: Row): Row => (missing ? { ...row, baseline: `not run: ${missing}`, verdict: row.verdict === 'info' ? 'info' : 'FAIL' } : row);
  return figureTable(r, {
    comparisons: [
      ratioRow(`snapshot --jobs ${j}, wall time${snapshotRoundsNote(r)}`, r.snapshot?.seconds, n.dump?.seconds, 1, fmtSec, 'mariadb-dump | zstd -3'),
      dumper(ratioRow(`snapshot --jobs ${j}, wall time${snapshotRoundsNote(r)}`, r.snapshot?.seconds, n.mydumper?.seconds, 1, fmtSec, `mydumper -t ${j} -c`)),
      ratioRow('repository bytes after snapshot', r.snapshot?.repoBytes, n.dump?.bytes, 1, fmtBytes, 'zstd -3 file'),
      ratioRow(`restore --snapshot --jobs ${j}, wall time${rounds}`, r.restore?.seconds, n.restoreSeconds, 0.5, fmtSec, 'mariadb < dump.sql'),
      dumper(ratioRow(`restore --snapshot --jobs ${j}, wall time${rounds}`, r.restore?.seconds, n.myloaderSeconds, 1, fmtSec, `myloader -t ${j}`)),
    ],
    memoryFirst: [
      ['init', r.init?.peakRssBytes],
      ['list', r.cliBaseline?.list.peakRssBytes],
    ],
    catchUp: 'stream: catch-up after load end (incl. ≤ 1 s to the next second)',
    natives: [
      info('mariadb-dump | zstd -3 (time, file)', n.dump ? `${fmtSec(n.dump.seconds)}, ${fmtBytes(n.dump.bytes)} (${n.dumpSqlBytes === undefined ? '?' : fmtBytes(n.dumpSqlBytes)} of SQL)` : 'FAILED'),
      info(`mariadb < dump.sql (median of ${n.restoreRuns?.length ?? 0})`, n.restoreSeconds === undefined ? 'FAILED' : fmtSec(n.restoreSeconds)),
      info(`mydumper -t ${j} -c (time, folder)`, missing ? `not run: ${missing}` : n.mydumper ? `${fmtSec(n.mydumper.seconds)}, ${fmtBytes(n.mydumper.bytes)}` : 'FAILED'),
      info(`myloader -t ${j} (median of ${n.myloaderRuns?.length ?? 0})`, missing ? 'not run' : n.myloaderSeconds === undefined ? 'FAILED' : fmtSec(n.myloaderSeconds)),
    ],
  });
}

runBench<MyBenchOptions, MyBenchResults>({
  title: 'MySQL/MariaDB',
  name: 'mysql',
  tempPrefix: 'crmb-bench-my-',
  usage: MY_USAGE,
  parseArgs: parseMyBenchArgs,
  db: mysqlDb,
  startServer: (opts) => startOwnMariadb({ settings: serverSettings(opts), timeoutMs: 180_000 }),
  newResults: (common, opts) => ({ ...common, serverSettings: serverSettings(opts), native: {}, steps: [] }),
  seed: (source, opts) => seedMysqlWithProgress(source, opts.scale, opts.seed),
  afterSeed: (r) => {
    const data = r.seed?.size.data ?? 0;
    if (data < 1e9) say(`   table data is ${fmtBytes(data)}: under the 1 GB of the benchmark (--scale ${MY_DEFAULT_SCALE} gives it)`);
  },
  fullSize: (r) => (r.seed?.size.data ?? 0) >= 1e9,
  nativePhase,
  figureRows,
});
