/**
 * Command-line options of bench/mysql.ts: those of bench/postgres.ts (options.ts; for this
 * benchmark `--jobs` is also mydumper's and myloader's `-t`, and the default scale gives at least
 * 1 GB of InnoDB table data) and the throwaway server's buffer pool.
 */
import { parseBenchArgs, type BenchOptions } from './options.js';

export interface MyBenchOptions extends BenchOptions {
  /** innodb_buffer_pool_size of the throwaway server. */
  readonly bufferPool: string;
}

export const MY_DEFAULT_SCALE = 24;

export const MY_USAGE = `usage: npx tsx bench/mysql.ts [--scale ${MY_DEFAULT_SCALE}] [--jobs 2] [--rate 4000] [--load-seconds 30]
                               [--connections 4] [--segment-seconds 2] [--seed 1] [--built] [--idle-end]
                               [--restore-rounds 3] [--snapshot-rounds 3] [--buffer-pool 4G]`;

export function parseMyBenchArgs(argv: readonly string[]): MyBenchOptions {
  const { common, extra } = parseBenchArgs(argv, {
    defaultScale: MY_DEFAULT_SCALE,
    usage: MY_USAGE,
    extra: { 'buffer-pool': '4G' },
  });
  const bufferPool = extra['buffer-pool'];
  if (!/^\d+[KMG]?$/i.test(bufferPool)) throw new Error(`--buffer-pool is "${bufferPool}"; it must be a size such as 4G or 512M.\n${MY_USAGE}`);
  return { ...common, bufferPool };
}
