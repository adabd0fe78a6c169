import type { Command } from 'commander';
import { driverFor } from '../driver/registry.js';
import { restore, type RestoreTarget } from '../restore/restore.js';
import { UsageError } from '../util/errors.js';
import { parseDurationMs, parseTimeMicros } from '../util/time.js';
import { list, openRepo, positiveInt } from './context.js';
import { action } from './run-command.js';

interface RestoreOpts {
  target?: string;
  name?: string;
  at?: string;
  before?: string;
  through?: string;
  snapshot?: string;
  tag?: string;
  latest?: boolean;
  tables?: string[];
  jobs: number;
  clean?: boolean;
  wait?: boolean | string;
  overwriteSource?: boolean;
}

/** `--wait`, `--wait 90`, `--wait 90s`, `--wait 15m`, `--wait 2h`: the limit in ms, if one is given. */
export function waitLimit(value: boolean | string | undefined): { limitMs?: number } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return {};
  const limitMs = parseDurationMs(value);
  if (limitMs === undefined)
    throw new UsageError(
      `--wait ${value}: give how long to wait at most, like 90s, 15m or 2h, or no value to wait as long as the stream runs.`,
    );
  return { limitMs };
}

export function restoreTarget(opts: RestoreOpts): RestoreTarget {
  const given = [opts.at, opts.before, opts.through, opts.snapshot, opts.tag, opts.latest].filter(
    (v) => v !== undefined && v !== false,
  );
  if (given.length !== 1)
    throw new UsageError(
      'restore needs exactly one of --at TIME, --before REF, --through REF, --snapshot ID, --tag T or --latest.',
    );
  if (opts.at !== undefined) return { kind: 'time', micros: parseTimeMicros(opts.at) };
  if (opts.before !== undefined) return { kind: 'before', ref: opts.before };
  if (opts.through !== undefined) return { kind: 'through', ref: opts.through };
  if (opts.snapshot !== undefined) return { kind: 'snapshot', id: opts.snapshot };
  if (opts.tag !== undefined) return { kind: 'tag', tag: opts.tag };
  return { kind: 'latest' };
}

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description(
      'Restore into an empty database: a snapshot, or any point in time covered by a snapshot and the log.',
    )
    .requiredOption('--target <url>', 'database URL to restore into (must be empty unless --clean)')
    .option('--name <name>', "source to restore (default: the repository's only source)")
    .option('--at <time>', 'ISO 8601 time with a zone; commits at or before it are restored (inclusive)')
    .option(
      '--before <ref>',
      'the state just before this stored transaction committed (a reference from "crm-backup log")',
    )
    .option(
      '--through <ref>',
      'the state just after this stored transaction committed (a reference from "crm-backup log")',
    )
    .option('--snapshot <id>', 'restore this snapshot (an id prefix is enough)')
    .option('--tag <tag>', 'restore the newest snapshot with this tag')
    .option('--latest', 'restore the newest snapshot')
    .option('--tables <list>', 'only these tables (comma-separated; the log replay is limited to them)', list)
    .option(
      '--jobs <n>',
      'sessions loading tables and building indexes in parallel (about the target CPU cores to use)',
      positiveInt('--jobs'),
      2,
    )
    .option('--clean', 'drop the objects the restore recreates first (refused when the target holds others)')
    .option('--overwrite-source', "allow the target to be the snapshot's own source database")
    .option(
      '--wait [limit]',
      'with --at: wait until the running stream has stored the log up to the time (at most limit, e.g. 90s, 15m)',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  crm-backup restore --repo /srv/backups/crm --target postgres://dba@db2:5432/crm_restored --at 2026-11-21T14:02:59+01:00\n  crm-backup restore --repo /srv/backups/crm --target postgres://dba@db2:5432/crm_before --tag pre-migration\n',
    )
    .action(
      action<RestoreOpts>(async (opts, ctx) => {
        if (!opts.target) throw new UsageError('restore needs --target URL.');
        const target = restoreTarget(opts);
        const wait = waitLimit(opts.wait);
        // a wrong URL is refused before the repository (and its password) is touched
        await driverFor(opts.target);
        const repo = await openRepo(opts);
        try {
          const summary = await restore({
            repo,
            targetUrl: opts.target,
            source: opts.name,
            target,
            jobs: opts.jobs,
            tables: opts.tables,
            clean: opts.clean,
            ...(wait ? { wait } : {}),
            overwriteSource: opts.overwriteSource,
            log: ctx.log,
            signal: ctx.signal,
          });
          if (ctx.json) ctx.print(JSON.stringify(summary));
        } finally {
          await repo.close();
        }
      }),
    );
}
