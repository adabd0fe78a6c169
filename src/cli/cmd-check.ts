import type { Command } from 'commander';
import { DEFAULT_THRESHOLDS, formatLimit, judge, type Thresholds } from '../health/checks.js';
import { readHealth, type RepositoryHealth } from '../health/health.js';
import { formatPrometheus, writeFileAtomic } from '../health/prometheus.js';
import { formatHuman, formatNagios, toJson } from '../health/report.js';
import { ConfigError, EXIT, UsageError } from '../util/errors.js';
import { describeError } from '../util/log.js';
import { parseDurationMs } from '../util/time.js';
import { openRepo, repoLocation } from './context.js';
import { action } from './run-command.js';

interface CheckOpts {
  name?: string;
  maxSnapshotAge: number;
  maxLogLag: number;
  maxDrillAge?: number;
  prometheus?: string;
  nagios?: boolean;
}

/** Nagios plugin exit codes, for --nagios. */
const NAGIOS = { ok: 0, critical: 2, unknown: 3 } as const;

function duration(flag: string): (v: string) => number {
  return (v) => {
    const ms = parseDurationMs(v);
    if (ms === undefined)
      throw new UsageError(`${flag} takes a duration like 90s, 15m, 26h or 2d, not "${v}".`);
    return ms;
  };
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description(
      'Health of the backups, for monitoring: per source the newest snapshot, the stream, how far behind now a restore can reach, gaps, and the last restore drill.',
    )
    .option('--name <name>', 'only this source (a failing check when the repository does not hold it)')
    .option(
      '--max-snapshot-age <duration>',
      'the newest full snapshot may be this old (90s, 15m, 26h, 2d)',
      duration('--max-snapshot-age'),
      DEFAULT_THRESHOLDS.maxSnapshotAgeMs,
    )
    .option(
      '--max-log-lag <duration>',
      'the newest instant a restore can reach may be this far behind now, for sources with a log',
      duration('--max-log-lag'),
      DEFAULT_THRESHOLDS.maxLogLagMs,
    )
    .option(
      '--max-drill-age <duration>',
      'the last passing restore drill may be this old (default: not checked; a failed drill always fails)',
      duration('--max-drill-age'),
    )
    .option(
      '--prometheus <file>',
      "also write the metrics to this file, atomically (node_exporter's textfile collector)",
    )
    .option('--nagios', 'print one Nagios plugin line and exit 0 OK, 2 CRITICAL or 3 UNKNOWN')
    .addHelpText(
      'after',
      `\nDefaults: --max-snapshot-age ${formatLimit(DEFAULT_THRESHOLDS.maxSnapshotAgeMs)}, --max-log-lag ${formatLimit(DEFAULT_THRESHOLDS.maxLogLagMs)}.\nExit status: 0 every check passed, 4 a check failed (each failure is one sentence with its fix), 1 the repository could not be read, 2 usage.\n\nExamples:\n  crm-backup check --repo /srv/backups/crm\n  crm-backup check --prometheus /var/lib/node_exporter/textfile_collector/crm-backup.prom\n`,
    )
    .action(
      action<CheckOpts>(async (opts, ctx) => {
        const limits: Thresholds = {
          maxSnapshotAgeMs: opts.maxSnapshotAge,
          maxLogLagMs: opts.maxLogLag,
          ...(opts.maxDrillAge === undefined ? {} : { maxDrillAgeMs: opts.maxDrillAge }),
        };
        let health: RepositoryHealth;
        try {
          const repo = await openRepo(opts);
          try {
            health = await readHealth(repo, {
              ...(opts.name ? { names: [opts.name] } : {}),
              signal: ctx.signal,
            });
          } finally {
            await repo.close();
          }
        } catch (err) {
          // the collector must see that the check ran and could not read the repository
          if (opts.prometheus && !(err instanceof UsageError)) {
            const down = {
              location: repoLocation(opts),
              checkedAtMicros: BigInt(Date.now()) * 1000n,
              bytes: 0,
              sources: [],
              missing: [],
              held: [],
            };
            await writeMetrics(opts.prometheus, formatPrometheus(down, undefined));
          }
          if (opts.nagios) {
            ctx.print(`CRM-BACKUP UNKNOWN - ${describeError(err)}`);
            return NAGIOS.unknown;
          }
          throw err;
        }
        const verdict = judge(health, limits);
        if (opts.prometheus) await writeMetrics(opts.prometheus, formatPrometheus(health, verdict));
        if (opts.nagios) {
          ctx.print(formatNagios(health, verdict));
          return verdict.ok ? NAGIOS.ok : NAGIOS.critical;
        }
        if (ctx.json) ctx.print(JSON.stringify(toJson(health, verdict, limits), null, 2));
        else ctx.print(formatHuman(health, verdict));
        return verdict.ok ? EXIT.ok : EXIT.checkFailed;
      }),
    );
}

async function writeMetrics(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text);
  } catch (err) {
    throw new ConfigError(
      `Cannot write the metrics file ${file}: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}; check that its folder exists and is writable by this user.`,
      { cause: err },
    );
  }
}
