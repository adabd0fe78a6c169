import type { Command } from 'commander';
import { forget, prune, type ForgetResult, type PruneResult } from '../repository/index.js';
import { repositoryPositionOrder } from '../restore/sources.js';
import { UsageError } from '../util/errors.js';
import { formatBytes } from '../util/log.js';
import { formatMicros } from '../util/time.js';
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
    .option(
      '--dry-run',
      'only show what would be removed (with --prune: how many chunks, and the bytes they free)',
    )
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
          let forgotten: ForgetResult | undefined;
          if (rules.some((r) => r !== undefined)) {
            forgotten = await forget(
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
          }
          const pruned = opts.prune
            ? await prune(repo, {
                signal: ctx.signal,
                dryRun: opts.dryRun === true,
                // a dry run counts the chunks as if the forget above had removed its manifests
                ...(forgotten && opts.dryRun
                  ? {
                      without: {
                        snapshots: forgotten.removed.map((r) => r.snapshot.id),
                        segments: forgotten.removedSegments.map((s) => s.id),
                      },
                    }
                  : {}),
              })
            : undefined;
          if (ctx.json) {
            const doc = forgotten ? { ...forgotten, ...(pruned ? { prune: pruned } : {}) } : pruned;
            ctx.print(JSON.stringify(doc, null, 2));
          } else {
            if (forgotten) ctx.print(describeForget(forgotten, opts.dryRun === true));
            if (pruned) ctx.print(describePrune(pruned));
          }
        } finally {
          await repo.close();
        }
      }),
    );
}

/** The removed (or, in a dry run, removable) snapshots one per line, and the log segments per source. */
export function describeForget(r: ForgetResult, dryRun: boolean): string {
  const lines = [
    `${dryRun ? 'Would remove' : 'Removed'} ${r.removed.length} snapshots and ${r.removedSegments.length} log segments; kept ${r.kept.length} snapshots.`,
  ];
  for (const { snapshot: s } of r.removed) {
    lines.push(
      `  snapshot ${s.id.slice(0, 12)} of ${s.source}, consistent at ${s.consistentAt}${s.tags.length ? ` [${s.tags.join(', ')}]` : ''}`,
    );
  }
  const bySource = new Map<string, ForgetResult['removedSegments'][number][]>();
  for (const g of r.removedSegments) bySource.set(g.source, [...(bySource.get(g.source) ?? []), g]);
  for (const [source, segs] of bySource) {
    const commits = segs
      .filter((g) => g.transactions > 0)
      .flatMap((g) => [BigInt(g.firstCommitMicros), BigInt(g.lastCommitMicros)]);
    const span = commits.length
      ? `, commits from ${formatMicros(commits.reduce((a, b) => (b < a ? b : a)))} to ${formatMicros(commits.reduce((a, b) => (b > a ? b : a)))}`
      : ', no commits';
    lines.push(`  ${segs.length} log segments of ${source}${span}`);
  }
  return lines.join('\n');
}

export function describePrune(p: PruneResult): string {
  const kept = `${p.keptYoungChunks} chunks younger than the ${formatGrace(p.graceMs)} grace period`;
  const held = p.keptHeldChunks
    ? ` and ${p.keptHeldChunks} that a running ${p.dryRun ? 'restore or verify holds' : 'backup, restore or verify still needs'}`
    : '';
  return p.dryRun
    ? `Would prune ${p.deletedChunks} unreferenced chunks (${formatBytes(p.deletedBytes)}); would keep ${kept}${held}.`
    : `Pruned ${p.deletedChunks} unreferenced chunks (${formatBytes(p.deletedBytes)}); kept ${kept}${held}.`;
}

/** 86400000 -> "24 h", 5400000 -> "90 min", 0 -> "0 s". */
export function formatGrace(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}
