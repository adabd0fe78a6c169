/** Command-line options of bench/postgres.ts, validated in one place. */
import { parseArgs } from 'node:util';

export interface PgBenchOptions {
  /** seedCrm scale; 22 gives a database of a little over 1 GB (scale 1 ≈ 50 MB with indexes). */
  readonly scale: number;
  readonly seed: number;
  /** --jobs for snapshot and restore, -j for pg_restore. */
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
  /** Restores timed per tool (pg_restore and crm-backup alternating); the figures are medians. */
  readonly restoreRounds: number;
}

export const USAGE = `usage: npx tsx bench/postgres.ts [--scale 22] [--jobs 2] [--rate 4000] [--load-seconds 30]
                                  [--connections 4] [--segment-seconds 2] [--seed 1] [--built] [--idle-end]
                                  [--restore-rounds 3]`;

function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`--${name} is "${text}"; it must be a positive ${integer ? 'integer' : 'number'}.\n${USAGE}`);
  return n;
}

export function parsePgBenchArgs(argv: readonly string[]): PgBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      scale: { type: 'string', default: '22' },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
      rate: { type: 'string', default: '4000' },
      'load-seconds': { type: 'string', default: '30' },
      connections: { type: 'string', default: '4' },
      'segment-seconds': { type: 'string', default: '2' },
      built: { type: 'boolean', default: false },
      'idle-end': { type: 'boolean', default: false },
      'restore-rounds': { type: 'string', default: '3' },
    },
    strict: true,
  });
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
  };
}
