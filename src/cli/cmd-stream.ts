import type { Command } from 'commander';
import { runStream } from '../backup/stream-job.js';
import { driverFor } from '../driver/registry.js';
import { UsageError } from '../util/errors.js';
import { compressionLevel, defaultSourceName, openRepo, positiveInt } from './context.js';
import { action } from './run-command.js';

interface StreamOpts {
  source?: string;
  name?: string;
  segmentBytes: number;
  segmentSeconds: number;
  drop?: boolean;
  compression: number;
}

export function registerStream(program: Command): void {
  program
    .command('stream')
    .description(
      'Capture the change log continuously until SIGINT/SIGTERM, then flush, acknowledge and exit 0.',
    )
    .requiredOption('--source <url>', 'database URL, e.g. postgres://backup@db:5432/crm')
    .option('--name <name>', 'source name in the repository (default: host:port/database of the URL)')
    .option(
      '--segment-bytes <n>',
      'roll a log segment at this size',
      positiveInt('--segment-bytes'),
      64 * 1024 * 1024,
    )
    .option(
      '--segment-seconds <n>',
      'roll a log segment after this many seconds',
      positiveInt('--segment-seconds'),
      60,
    )
    .option(
      '--drop',
      'remove the replication slot and publication of this source (and, once no other stream uses them, DDL capture, schema crmb and the REPLICA IDENTITY changes), then exit',
    )
    .option(
      '--compression <level>',
      'zstd level for log segments (1 fastest … 19 smallest)',
      compressionLevel,
      3,
    )
    .addHelpText(
      'after',
      '\nExample:\n  crm-backup stream --repo /srv/backups/crm --source postgres://backup@db:5432/crm --segment-seconds 30\n',
    )
    .action(
      action<StreamOpts>(async (opts, ctx) => {
        if (!opts.source) throw new UsageError('stream needs --source URL.');
        const name = opts.name ?? (await defaultSourceName(opts.source));
        const driver = await driverFor(opts.source);
        if (opts.drop) {
          const source = await driver.openSource(opts.source, { name });
          try {
            if (!source.dropChangeLog)
              throw new UsageError(`The ${driver.kind} driver keeps no server-side stream state to drop.`);
            // one line per thing removed or put back on the source
            for (const line of (await source.dropChangeLog()) ?? []) ctx.log.info('stream.dropped', line);
            ctx.log.info('stream.dropped', `Removed the change-log state of ${name} from the source.`);
          } finally {
            await source.close();
          }
          return;
        }
        const repo = await openRepo(opts, { zstdLevel: opts.compression });
        try {
          const result = await runStream({
            repo,
            driver,
            sourceUrl: opts.source,
            name,
            segmentBytes: opts.segmentBytes,
            segmentSeconds: opts.segmentSeconds,
            log: ctx.log,
            signal: ctx.signal,
          });
          if (ctx.json) ctx.print(JSON.stringify(result));
        } finally {
          await repo.close();
        }
      }),
    );
}
