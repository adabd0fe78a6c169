import type { Command } from 'commander';
import { verifyRepository } from '../repository/index.js';
import { EXIT } from '../util/errors.js';
import { openRepo } from './context.js';
import { action } from './run-command.js';

interface VerifyOpts {
  readData?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'Check the repository: every referenced object exists; with --read-data, every byte decrypts and authenticates.',
    )
    .option('--read-data', 'download, decrypt and authenticate every chunk')
    .addHelpText(
      'after',
      '\nExit status 3 when damage is found; each problem names the snapshots, tables and log segments it affects.\n\nExample:\n  crm-backup verify --repo /srv/backups/crm --read-data\n',
    )
    .action(
      action<VerifyOpts>(async (opts, ctx) => {
        const repo = await openRepo(opts);
        try {
          // shared, and what verify reads is held: a prune cannot delete it and make it look damaged
          const lock = await repo.lock('shared', { purpose: 'verify', signal: ctx.signal });
          const report = await verifyRepository(repo, {
            readData: opts.readData === true,
            lock,
            signal: ctx.signal,
            onProgress: ({ phase, done, total }) =>
              ctx.log.progress('verify.progress', `Checked ${done}/${total} ${phase}`, { done, total }),
          });
          ctx.log.done();
          if (ctx.json) ctx.print(JSON.stringify(report, null, 2));
          else {
            for (const p of report.problems) {
              const affects = p.affects.map(
                (a) =>
                  `${a.kind} ${a.id.slice(0, 12)}${a.table ? ` table ${a.table}` : ''} (source ${a.source})`,
              );
              ctx.print(
                `damaged: ${p.object}: ${p.problem}${affects.length ? `; affects ${affects.join(', ')}` : ''}`,
              );
            }
            ctx.print(report.ok ? 'No damage found.' : `${report.problems.length} damaged objects found.`);
          }
          return report.ok ? EXIT.ok : EXIT.integrity;
        } finally {
          await repo.close();
        }
      }),
    );
}
