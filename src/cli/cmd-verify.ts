import type { Command } from 'commander';
import { verifyRepository, type DataSubset } from '../repository/index.js';
import { EXIT, UsageError } from '../util/errors.js';
import { openRepo } from './context.js';
import { action } from './run-command.js';

interface VerifyOpts {
  readData?: boolean;
  readDataSubset?: DataSubset;
}

/** `n/m`: part n of m, 1 ≤ n ≤ m. */
export function dataSubset(v: string): DataSubset {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const n = Number(m?.[1]);
  const of = Number(m?.[2]);
  if (!m || n < 1 || of < 1 || n > of)
    throw new UsageError(
      `--read-data-subset takes n/m, part n of m with 1 ≤ n ≤ m (like 2/4: the second quarter of the chunks), not "${v}".`,
    );
  return { n, m: of };
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'Check the repository: every referenced object exists; with --read-data, every byte decrypts and authenticates.',
    )
    .option('--read-data', 'download, decrypt and authenticate every chunk')
    .option(
      '--read-data-subset <n/m>',
      'like --read-data, for part n of m of the chunks only (the same part every time; run 1/m … m/m in turn)',
      dataSubset,
    )
    .addHelpText(
      'after',
      '\nExit status 3 when damage is found; each problem names the snapshots, tables and log segments it affects.\n\nExamples:\n  crm-backup verify --repo /srv/backups/crm --read-data\n  crm-backup verify --repo /srv/backups/crm --read-data-subset 3/4    # a quarter of the chunks\n',
    )
    .action(
      action<VerifyOpts>(async (opts, ctx) => {
        const repo = await openRepo(opts);
        try {
          // shared, and what verify reads is held: a prune cannot delete it and make it look damaged
          const lock = await repo.lock('shared', { purpose: 'verify', signal: ctx.signal });
          const report = await verifyRepository(repo, {
            readData: opts.readData === true || opts.readDataSubset !== undefined,
            ...(opts.readDataSubset ? { readDataSubset: opts.readDataSubset } : {}),
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
            if (opts.readDataSubset)
              ctx.print(
                `Read part ${opts.readDataSubset.n}/${opts.readDataSubset.m} of the data: ${report.checked.chunksRead} of ${report.checked.chunks} chunks.`,
              );
            ctx.print(report.ok ? 'No damage found.' : `${report.problems.length} damaged objects found.`);
          }
          return report.ok ? EXIT.ok : EXIT.integrity;
        } finally {
          await repo.close();
        }
      }),
    );
}
