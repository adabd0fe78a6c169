import type { Command } from 'commander';
import { forget, prune } from '../repository/index.js';
import { repositoryPositionOrder } from '../restore/sources.js';
import { UsageError } from '../util/errors.js';
import { formatBytes } from '../util/log.js';
import { openRepo, positiveInt } from './context.js';
import { action } from './run-command.js';

interface ForgetOpts {
  name?: string;
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  prune?: boolean;
  dryRun?: boolean;
}

export function registerForget(program: Command): void {
  program
    .command('forget')
    .description(
      'Remove snapshots by retention rules (per source), keeping the log that kept snapshots need; --prune deletes unreferenced data.',
    )
    .option('--name <name>', 'only this source')
    .option('--keep-last <n>', 'keep the newest n snapshots', positiveInt('--keep-last'))
    .option(
      '--keep-hourly <n>',
      'keep the newest snapshot of each of the last n hours',
      positiveInt('--keep-hourly'),
    )
    .option(
      '--keep-daily <n>',
      'keep the newest snapshot of each of the last n days',
      positiveInt('--keep-daily'),
    )
    .option(
      '--keep-weekly <n>',
      'keep the newest snapshot of each of the last n weeks',
      positiveInt('--keep-weekly'),
    )
    .option(
      '--keep-monthly <n>',
      'keep the newest snapshot of each of the last n months',
      positiveInt('--keep-monthly'),
    )
    .option('--prune', 'then delete data no snapshot or log segment references')
    .option('--dry-run', 'only show what would be removed')
    .addHelpText(
      'after',
      '\nExample:\n  crm-backup forget --repo /srv/backups/crm --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --prune\n',
    )
    .action(
      action<ForgetOpts>(async (opts, ctx) => {
        const rules = [opts.keepLast, opts.keepHourly, opts.keepDaily, opts.keepWeekly, opts.keepMonthly];
        if (rules.every((r) => r === undefined) && !opts.prune) {
          throw new UsageError(
            'forget needs at least one --keep-* rule, or --prune alone to delete unreferenced data.',
          );
        }
        const repo = await openRepo(opts);
        try {
          if (rules.some((r) => r !== undefined)) {
            const result = await forget(
              repo,
              {
                keepLast: opts.keepLast,
                keepHourly: opts.keepHourly,
                keepDaily: opts.keepDaily,
                keepWeekly: opts.keepWeekly,
                keepMonthly: opts.keepMonthly,
                source: opts.name,
                dryRun: opts.dryRun,
              },
              { comparePositions: await repositoryPositionOrder(repo), signal: ctx.signal },
            );
            if (ctx.json) ctx.print(JSON.stringify(result, null, 2));
            else
              ctx.print(
                `${opts.dryRun ? 'Would remove' : 'Removed'} ${result.removed.length} snapshots and ${result.removedSegments.length} log segments; kept ${result.kept.length} snapshots.`,
              );
          }
          if (opts.prune && !opts.dryRun) {
            const pruned = await prune(repo, { signal: ctx.signal });
            ctx.print(
              ctx.json
                ? JSON.stringify(pruned)
                : `Pruned ${pruned.deletedChunks} unreferenced chunks (${formatBytes(pruned.deletedBytes)}); ${pruned.keptYoungChunks} newer ones are kept for now in case a running backup needs them.`,
            );
          }
        } finally {
          await repo.close();
        }
      }),
    );
}
