import type { Command } from 'commander';
import { closeEarlySource, openSourceEarly, runSnapshot } from '../backup/snapshot-job.js';
import { DEFAULT_SNAPSHOT_COMPRESSION } from '../driver/driver-module.js';
import { driverFor } from '../driver/registry.js';
import { UsageError } from '../util/errors.js';
import { compressionLevel, defaultSourceName, list, openRepo, positiveInt } from './context.js';
import { action } from './run-command.js';

interface SnapshotOpts {
  source?: string;
  name?: string;
  tag: string[];
  jobs: number;
  tables?: string[];
  schemas?: string[];
  compression?: number;
  withPrivileges?: boolean;
}

export function registerSnapshot(program: Command): void {
  program
    .command('snapshot')
    .description('Take a consistent logical snapshot of a database; prints the snapshot id.')
    .requiredOption('--source <url>', 'database URL, e.g. postgres://backup@db:5432/crm')
    .option('--name <name>', 'source name in the repository (default: host:port/database of the URL)')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--jobs <n>', 'tables dumped in parallel', positiveInt('--jobs'), 2)
    .option(
      '--tables <list>',
      'only these tables (comma-separated): a partial snapshot, which never stands in for the whole database',
      list,
    )
    .option('--schemas <list>', 'only these schemas (comma-separated): a partial snapshot as well', list)
    .option(
      '--with-privileges',
      "also who may do what: PostgreSQL ownership and grants; MongoDB the database's users (with their SCRAM credentials, encrypted in the repository) and roles",
    )
    // PostgreSQL: level 5 (tuned, codec.ts) makes a snapshot smaller than pg_dump -Fc at a
    // fraction of its time; 6 made the compression the snapshot's pace on the shapes dataset.
    // MySQL/MariaDB: level 3 (as the `mariadb-dump | zstd -3` it is measured against); 6 took
    // twice as long, the compression being most of its CPU.
    .option(
      '--compression <level>',
      "zstd level for table data (1 fastest … 19 smallest; default: the driver's, 5 for PostgreSQL, 6 for MongoDB, 3 for MySQL/MariaDB)",
      compressionLevel,
    )
    .addHelpText(
      'after',
      '\nExample:\n  crm-backup snapshot --repo /srv/backups/crm --source postgres://backup@db:5432/crm --tag nightly --jobs 4\n',
    )
    .action(
      action<SnapshotOpts>(async (opts, ctx) => {
        if (!opts.source) throw new UsageError('snapshot needs --source URL.');
        const name = opts.name ?? (await defaultSourceName(opts.source));
        const driver = await driverFor(opts.source);
        // connecting to the source and its preflight overlap the repository's key derivation
        const opening = openSourceEarly(driver, opts.source, name, ctx.signal);
        let repo;
        try {
          repo = await openRepo(opts, {
            zstdLevel: opts.compression ?? driver.snapshotCompression ?? DEFAULT_SNAPSHOT_COMPRESSION,
          });
        } catch (err) {
          closeEarlySource(opening);
          throw err;
        }
        try {
          const result = await runSnapshot({
            repo,
            driver,
            sourceUrl: opts.source,
            name,
            tags: opts.tag,
            jobs: opts.jobs,
            tables: opts.tables,
            schemas: opts.schemas,
            withPrivileges: opts.withPrivileges === true,
            log: ctx.log,
            signal: ctx.signal,
            opening,
          });
          ctx.print(ctx.json ? JSON.stringify(result) : result.id);
        } finally {
          await repo.close();
        }
      }),
    );
}
