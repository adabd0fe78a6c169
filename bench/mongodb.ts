/**
 * MongoDB benchmark of issue #13: crm-backup against mongodump --archive --gzip / mongorestore on the
 * replica set it is given, holding the reference CRM as documents, in one run.
 *   npx tsx bench/mongodb.ts --url 'mongodb://host:27017/?replicaSet=rs0' [--scale 19] [--jobs 2] [--built]
 * (or the URL in CRMB_BENCH_MONGODB_URL / CRMB_TEST_MONGODB_URL). No MongoDB can be started by
 * the harness: without a URL the benchmark prints one line saying it did not run and exits 0.
 * Every database it creates is `crmb_bench_<hex>_*`, dropped at the end. Without mongodump and
 * mongorestore on PATH the comparisons say NOT RUN and the rest runs.
 * Order, as bench/postgres.ts: native baselines first, then the stream started before the
 * snapshot, snapshot and restore (alternating rounds with mongorestore), the write load, and the
 * point-in-time restore (lib/run-bench.ts). Exit 0 when every step ran and every restore matched
 * its source; 1 otherwise (a server that cannot be reached: one sentence, exit 1).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redactUrl } from '../src/util/redact.js';
import { inFreshDb } from './lib/bench-db.js';
import type { BenchContext } from './lib/context.js';
import { mongoDb, mongoSeed, mongoServer } from './lib/mongodb-db.js';
import { missingMongoTools, mongodump, mongorestoreLoad, mongoToolsVersion, writeToolsConfig } from './lib/mongodb-native.js';
import { MONGO_DEFAULT_SCALE, MONGO_USAGE, NOT_RUN, parseMongoBenchArgs, type MongoBenchOptions } from './lib/mongodb-options.js';
import { mongoFigureRows } from './lib/mongodb-report.js';
import { fmtBytes } from './lib/report.js';
import type { MongoBenchResults } from './lib/results.js';
import { runBench } from './lib/run-bench.js';
import { seedWithProgress } from './lib/seed.js';
import { say } from './lib/steps.js';

type Ctx = BenchContext<MongoBenchOptions, MongoBenchResults>;

const NATIVE_DB = 'crm_native';

/** Step 2: mongodump and round 1 of mongorestore, before crm-backup touches the server. */
async function nativePhase(ctx: Ctx, work: string): Promise<void> {
  const { steps, results, opts, serverUrl } = ctx;
  const native = results.native;
  const missing = missingMongoTools();
  if (missing) {
    native.toolsMissing = missing;
    say(`\n== mongodump / mongorestore: NOT RUN — ${missing}; the other figures follow`);
    return;
  }
  native.toolsVersion = mongoToolsVersion();
  const config = writeToolsConfig(join(work, 'mongo-tools.yaml'), serverUrl);
  const dir = join(work, 'mongodump');
  mkdirSync(dir);
  native.dump = await steps.run('mongodump', `mongodump --archive --gzip --numParallelCollections ${opts.jobs} (${native.toolsVersion})`, () => mongodump(config, 'crm', dir, opts.jobs));
  if (!native.dump) return steps.skip('mongorestore', 'no mongodump archive to restore');
  say(`   dump: ${fmtBytes(native.dump.bytes)} in ${native.dump.seconds.toFixed(1)} s`);
  const restore = (): Promise<number> => inFreshDb(mongoDb, serverUrl, NATIVE_DB, () => mongorestoreLoad(config, dir, 'crm', NATIVE_DB, opts.jobs));
  const first = await steps.run('mongorestore', `mongorestore --archive --gzip --numParallelCollections ${opts.jobs} into a fresh database (round 1)`, restore);
  if (first === undefined) return;
  native.restoreRuns = [first];
  native.restoreSeconds = first;
  ctx.nativeRounds = {
    what: 'mongorestore / crm-backup restore pairs',
    restores: [{ label: 'mongorestore', runs: native.restoreRuns, restore, settle: (m) => (native.restoreSeconds = m) }],
    files: [dir],
  };
}

// the server is known only once the options are read; startServer records what it found
let server: MongoBenchResults['server'];

runBench<MongoBenchOptions, MongoBenchResults>({
  title: 'MongoDB',
  name: 'mongodb',
  tempPrefix: 'crmb-bench-mongo-',
  usage: MONGO_USAGE,
  parseArgs: (argv) => parseMongoBenchArgs(argv),
  notRun: (opts) => (opts.url ? undefined : NOT_RUN),
  db: mongoDb,
  startServer: (opts) => mongoServer(opts.url, (info) => (server = info)),
  // the URL's password must not reach bench/results/
  newResults: (common, opts) => ({ ...common, options: { ...common.options, url: redactUrl(opts.url) }, native: {}, steps: [] }),
  seed: (source, opts) => seedWithProgress(mongoSeed, source, opts.scale, opts.seed),
  afterSeed: (r) => {
    if (server) r.server = server;
    const data = r.seed?.size.data ?? 0;
    if (data < 1e9) say(`   ${fmtBytes(data)} of documents: under the 1 GB of the benchmark (--scale ${MONGO_DEFAULT_SCALE} gives it)`);
  },
  fullSize: (r) => (r.seed?.size.data ?? 0) >= 1e9,
  nativePhase,
  figureRows: mongoFigureRows,
});
