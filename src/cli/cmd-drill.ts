import type { Command } from 'commander';
import { driverFor } from '../driver/registry.js';
import { runDrill, type DrillOutcome } from '../drill/drill.js';
import { DrillFailedError } from '../util/errors.js';
import { formatBytes, formatDuration } from '../util/log.js';
import { parseTimeMicros } from '../util/time.js';
import { openRepo, positiveInt } from './context.js';
import { action } from './run-command.js';

interface DrillOpts {
  target: string;
  name?: string;
  at?: string | boolean;
  snapshot?: string;
  scratch?: string;
  useDatabase?: boolean;
  keep?: boolean;
  jobs: number;
}

export function registerDrill(program: Command): void {
  program
    .command('drill')
    .description(
      'Restore test: restore into a scratch database, compare every table with the checksums the snapshot stored, record the outcome; exit 5 when the backup fails it.',
    )
    .requiredOption('--target <url>', 'server to drill on; a scratch database crmb_drill_<time> is created there')
    .option('--name <name>', "source to drill (default: the repository's only source)")
    .option('--snapshot <id>', 'restore this snapshot (default: the newest)')
    .option('--at [time]', 'restore to this instant; without a time, to one chosen at random inside the restorable window')
    .option('--scratch <name>', 'name of the scratch database (default: crmb_drill_<yyyymmddhhmmss>)')
    .option('--use-database', 'restore into the empty database --target names instead; it is never dropped')
    .option('--keep', 'keep the scratch database afterwards')
    .option('--jobs <n>', 'sessions loading and reading back tables in parallel', positiveInt('--jobs'), 2)
    .addHelpText(
      'after',
      '\nExamples:\n  crm-backup drill --repo /srv/backups/crm --target postgres://dba@drill-host:5432/postgres\n  crm-backup drill --repo /srv/backups/crm --target mysql://dba@drill-host:3306/mysql --at\n',
    )
    .action(
      action<DrillOpts>(async (opts, ctx) => {
        const at =
          opts.at === undefined ? undefined : opts.at === true ? ('random' as const) : parseTimeMicros(String(opts.at));
        // a wrong URL is refused before the repository (and its password) is touched
        await driverFor(opts.target);
        const repo = await openRepo(opts);
        let outcome: DrillOutcome;
        try {
          outcome = await runDrill({
            repo,
            targetUrl: opts.target,
            source: opts.name,
            snapshot: opts.snapshot,
            at,
            scratch: opts.scratch,
            useDatabase: opts.useDatabase,
            keep: opts.keep,
            jobs: opts.jobs,
            log: ctx.log,
            signal: ctx.signal,
          });
        } finally {
          await repo.close();
        }
        const r = outcome.record;
        if (ctx.json) ctx.print(JSON.stringify(outcome, null, 2));
        else {
          ctx.print(
            `Drill ${r.verdict}: snapshot ${r.snapshot.slice(0, 12)}${r.at ? ` and the log up to ${r.at}` : ''} restored in ${formatDuration(Math.round(r.seconds * 1000))} (${r.tables} tables, ${r.rows} rows, ${formatBytes(r.bytes)}); ${r.tablesCompared} tables compared with the snapshot's checksums.`,
          );
          for (const line of r.notCompared) ctx.print(`  not compared: ${line}`);
          if (outcome.database.kept) ctx.print(`  kept: ${outcome.database.url}`);
        }
        if (r.verdict === 'failed') throw new DrillFailedError(r.failure ?? 'The drill failed.');
      }),
    );
}
