/**
 * Command-line options of bench/mongodb.ts: those of bench/postgres.ts (options.ts; `--jobs` is
 * also mongodump's and mongorestore's `--numParallelCollections`) and the server's URL. No
 * MongoDB can be started by the harness, so the benchmark runs against a replica set someone gives
 * it: `--url`, else CRMB_BENCH_MONGODB_URL, else CRMB_TEST_MONGODB_URL (the integration tests'
 * server). Without one the benchmark does not run and says so in one line (NOT_RUN).
 */
import { parseBenchArgs, type BenchOptions } from './options.js';

export interface MongoBenchOptions extends BenchOptions {
  /** The server, e.g. `mongodb://127.0.0.1:27017/?replicaSet=rs0`; '' when none was given. */
  readonly url: string;
}

/** Scale 1 = 54.0 MB of BSON documents (dbStats dataSize; measured with BSON.calculateObjectSize), so 19 gives 1.03 GB. */
export const MONGO_DEFAULT_SCALE = 19;

export const MONGO_USAGE = `usage: npx tsx bench/mongodb.ts --url 'mongodb://host:27017/?replicaSet=rs0' [--scale ${MONGO_DEFAULT_SCALE}] [--jobs 2]
                               [--rate 4000] [--load-seconds 30] [--connections 4] [--segment-seconds 2]
                               [--seed 1] [--built] [--idle-end] [--restore-rounds 3]
       (or the URL in CRMB_BENCH_MONGODB_URL or CRMB_TEST_MONGODB_URL; the server must be a replica set)`;

export const NOT_RUN =
  'MongoDB benchmark NOT RUN: no server (set CRMB_BENCH_MONGODB_URL=mongodb://...; none can be installed on this machine)';

export function parseMongoBenchArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): MongoBenchOptions {
  const { common, extra } = parseBenchArgs(argv, { defaultScale: MONGO_DEFAULT_SCALE, usage: MONGO_USAGE, extra: { url: '' } });
  const url = extra.url || env.CRMB_BENCH_MONGODB_URL || env.CRMB_TEST_MONGODB_URL || '';
  if (url && !/^mongodb(\+srv)?:\/\/[^/?#]/.test(url))
    throw new Error(`the server URL must start with mongodb:// or mongodb+srv:// and name a host, e.g. mongodb://127.0.0.1:27017/?replicaSet=rs0.\n${MONGO_USAGE}`);
  return { ...common, url };
}
