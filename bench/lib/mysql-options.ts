/** Command-line options of bench/mysql.ts, validated in one place; the same names as bench/postgres.ts. */
import { parseArgs } from 'node:util';

export interface MyBenchOptions {
  /** seedCrm scale; the default gives at least 1 GB of InnoDB table data (DATA_LENGTH). */
  readonly scale: number;
  readonly seed: number;
  /** --jobs for snapshot and restore, -t for mydumper and myloader. */
  readonly jobs: number;
  /** Row changes per second the write load aims for. */
  readonly rate: number;
  readonly loadSeconds: number;
  readonly connections: number;
  readonly segmentSeconds: number;
  /** Run dist/src/cli/bin.js instead of the TypeScript sources through tsx. */
  readonly built: boolean;
  /** No closing commit after the load: E is covered only when the stream's own idle marker lands. */
  readonly idleEnd: boolean;
  /** Restores timed per tool (mariadb, myloader and crm-backup alternating); the figures are medians. */
  readonly restoreRounds: number;
  /** innodb_buffer_pool_size of the throwaway server. */
  readonly bufferPool: string;
}

export const MY_DEFAULT_SCALE = 24;

export const MY_USAGE = `usage: npx tsx bench/mysql.ts [--scale ${MY_DEFAULT_SCALE}] [--jobs 2] [--rate 4000] [--load-seconds 30]
                               [--connections 4] [--segment-seconds 2] [--seed 1] [--built] [--idle-end]
                               [--restore-rounds 3] [--buffer-pool 4G]`;

function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`--${name} is "${text}"; it must be a positive ${integer ? 'integer' : 'number'}.\n${MY_USAGE}`);
  return n;
}

export function parseMyBenchArgs(argv: readonly string[]): MyBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scale: { type: 'string', default: String(MY_DEFAULT_SCALE) },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
      rate: { type: 'string', default: '4000' },
      'load-seconds': { type: 'string', default: '30' },
      connections: { type: 'string', default: '4' },
      'segment-seconds': { type: 'string', default: '2' },
      built: { type: 'boolean', default: false },
      'idle-end': { type: 'boolean', default: false },
      'restore-rounds': { type: 'string', default: '3' },
      'buffer-pool': { type: 'string', default: '4G' },
    },
    strict: true,
  });
  const bufferPool = values['buffer-pool'];
  if (!/^\d+[KMG]?$/i.test(bufferPool)) throw new Error(`--buffer-pool is "${bufferPool}"; it must be a size such as 4G or 512M.\n${MY_USAGE}`);
  return {
    scale: positive('scale', values.scale, false),
    seed: positive('seed', values.seed, true),
    jobs: positive('jobs', values.jobs, true),
    rate: positive('rate', values.rate, false),
    loadSeconds: positive('load-seconds', values['load-seconds'], false),
    connections: positive('connections', values.connections, true),
    segmentSeconds: positive('segment-seconds', values['segment-seconds'], true),
    built: values.built,
    idleEnd: values['idle-end'],
    restoreRounds: positive('restore-rounds', values['restore-rounds'], true),
    bufferPool,
  };
}
