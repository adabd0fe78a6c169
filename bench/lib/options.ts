/** Command-line options of bench/postgres.ts and bench/mysql.ts, validated in one place. */
import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** seedCrm scale; PostgreSQL: 22 gives a database of a little over 1 GB (scale 1 ≈ 50 MB with indexes). */
  readonly scale: number;
  readonly seed: number;
  /** --jobs for snapshot and restore, and the native tools' own (pg_restore -j, mydumper/myloader -t). */
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
  /** Snapshots timed per tool (the native dumps and crm-backup alternating); the figures are medians. */
  readonly snapshotRounds: number;
}

export const USAGE = `usage: npx tsx bench/postgres.ts [--dataset reference|shapes|both] [--scale 22] [--jobs 2] [--rate 4000]
                                  [--load-seconds 30] [--connections 4] [--segment-seconds 2] [--seed 1] [--built]
                                  [--idle-end] [--restore-rounds 3] [--snapshot-rounds 3]`;

/** The PostgreSQL benchmark's datasets: the reference CRM, scripts/crm/shapes (issue 15), or each in turn. */
export const PG_DATASETS = ['reference', 'shapes', 'both'] as const;
export type PgDataset = (typeof PG_DATASETS)[number];

export interface PgBenchOptions extends BenchOptions {
  readonly dataset: PgDataset;
}

function positive(name: string, text: string, integer: boolean, usage: string): number {
  const n = Number(text);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`--${name} is "${text}"; it must be a positive ${integer ? 'integer' : 'number'}.\n${usage}`);
  return n;
}

export function parsePgBenchArgs(argv: readonly string[]): PgBenchOptions {
  const { common, extra } = parseBenchArgs(argv, { defaultScale: 22, usage: USAGE, extra: { dataset: 'both' } });
  const dataset = PG_DATASETS.find((d) => d === extra.dataset);
  if (dataset === undefined) throw new Error(`--dataset is "${extra.dataset}"; it must be one of ${PG_DATASETS.join(', ')}.\n${USAGE}`);
  return { ...common, dataset };
}

/**
 * The options every database benchmark shares, and the raw values of the `extra` ones a benchmark
 * adds (strings, with their defaults), for it to validate.
 */
export function parseBenchArgs<E extends string>(
  argv: readonly string[],
  spec: { readonly defaultScale: number; readonly usage: string; readonly extra?: Readonly<Record<E, string>> },
): { common: BenchOptions; extra: Record<E, string> } {
  const extraOptions = Object.fromEntries(
    Object.entries<string>(spec.extra ?? ({} as Record<E, string>)).map(([k, d]) => [k, { type: 'string' as const, default: d }]),
  );
  const { values } = parseArgs({
    args: [...argv],
    options: {
      ...extraOptions,
      scale: { type: 'string', default: String(spec.defaultScale) },
      seed: { type: 'string', default: '1' },
      jobs: { type: 'string', default: '2' },
      rate: { type: 'string', default: '4000' },
      'load-seconds': { type: 'string', default: '30' },
      connections: { type: 'string', default: '4' },
      'segment-seconds': { type: 'string', default: '2' },
      built: { type: 'boolean', default: false },
      'idle-end': { type: 'boolean', default: false },
      'restore-rounds': { type: 'string', default: '3' },
      'snapshot-rounds': { type: 'string', default: '3' },
    },
    strict: true,
  });
  const u = spec.usage;
  const common: BenchOptions = {
    scale: positive('scale', values.scale, false, u),
    seed: positive('seed', values.seed, true, u),
    jobs: positive('jobs', values.jobs, true, u),
    rate: positive('rate', values.rate, false, u),
    loadSeconds: positive('load-seconds', values['load-seconds'], false, u),
    connections: positive('connections', values.connections, true, u),
    segmentSeconds: positive('segment-seconds', values['segment-seconds'], true, u),
    built: values.built,
    idleEnd: values['idle-end'],
    restoreRounds: positive('restore-rounds', values['restore-rounds'], true, u),
    snapshotRounds: positive('snapshot-rounds', values['snapshot-rounds'], true, u),
  };
  const extra = Object.fromEntries(
    Object.keys(spec.extra ?? {}).map((k) => [k, String((values as Record<string, unknown>)[k])]),
  ) as Record<E, string>;
  return { common, extra };
}
