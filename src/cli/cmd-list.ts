import type { Command } from 'commander';
import { describeSnapshotFilter } from '../repository/retention.js';
import { windowTransactions } from '../restore/log.js';
import { listSources } from '../restore/sources.js';
import { describeDrill } from '../drill/describe.js';
import { describeError, formatBytes } from '../util/log.js';
import { openRepo } from './context.js';
import { action } from './run-command.js';

interface ListOpts {
  name?: string;
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List snapshots per source and the time windows that can be restored to.')
    .option('--name <name>', 'only this source')
    .addHelpText('after', '\nExample:\n  crm-backup list --repo /srv/backups/crm --json\n')
    .action(
      action<ListOpts>(async (opts, ctx) => {
        const repo = await openRepo(opts);
        try {
          const listing = [];
          for (const src of await listSources(repo, opts.name)) {
            // the transactions at each window's ends: what --before / --through can name
            const ends = await windowTransactions(repo, src.source).catch((err: unknown) => {
              ctx.log.warn(
                'list.log',
                `The transactions of ${src.source} could not be read: ${describeError(err)}`,
              );
              return [];
            });
            const lastDrill = (await repo.listDrills({ source: src.source })).at(-1) ?? null;
            listing.push({
              ...src,
              restorable: src.restorable.map((w, i) => ({ ...w, ...ends[i] })),
              lastDrill,
            });
          }
          if (ctx.json) return void ctx.print(JSON.stringify(listing, null, 2));
          if (listing.length === 0) return void ctx.print('The repository holds no backups yet.');
          for (const src of listing) {
            ctx.print(`Source ${src.source}`);
            for (const s of src.snapshots) {
              const tags = s.tags.length ? `  [${s.tags.join(', ')}]` : '';
              const partial = s.partial ? `  partial: ${describeSnapshotFilter(s.filter)}` : '';
              ctx.print(
                `  snapshot ${s.id.slice(0, 12)}  ${s.consistentAt}  ${s.tables} tables, ${s.rows} rows, ${formatBytes(s.bytes)}${tags}${partial}`,
              );
            }
            ctx.print(`  log: ${src.segments} segments, ${formatBytes(src.logBytes)}`);
            ctx.print(`  last drill: ${describeDrill(src.lastDrill)}`);
            if (src.restorable.length === 0)
              ctx.print('  point-in-time restore: no window (no unbroken log after a full snapshot yet)');
            for (const w of src.restorable) {
              ctx.print(`  restorable to any time from ${w.from} to ${w.to}`);
              if (w.first && w.last)
                ctx.print(
                  `  restorable to any transaction from before ${w.first.ref} (${w.first.commitTime}) through ${w.last.ref} (${w.last.commitTime})`,
                );
            }
          }
        } finally {
          await repo.close();
        }
      }),
    );
}
