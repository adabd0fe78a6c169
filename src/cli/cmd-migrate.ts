import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Knex } from 'knex';
import { runSnapshot } from '../backup/snapshot-job.js';
import { driverFor } from '../driver/registry.js';
import { ConfigError, UsageError } from '../util/errors.js';
import { redactUrl } from '../util/redact.js';
import { defaultSourceName, openRepo, repoLocation } from './context.js';
import { action } from './run-command.js';

interface MigrateOpts {
  source?: string;
  knexfile?: string;
  name?: string;
}

/** Loads a knexfile (.js/.mjs/.cjs, or .ts when tsx is available) and picks the environment's config. */
export async function loadKnexfile(file: string): Promise<Knex.Config> {
  const url = pathToFileURL(resolve(file)).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_UNKNOWN_FILE_EXTENSION' && file.endsWith('.ts')) {
      try {
        const api = (await import('tsx/esm/api')) as {
          tsImport(spec: string, parent: string): Promise<unknown>;
        };
        mod = (await api.tsImport(url, import.meta.url)) as Record<string, unknown>;
      } catch (inner) {
        throw new ConfigError(
          `Cannot load the TypeScript knexfile ${file}; compile it to JavaScript or install tsx.`,
          { cause: inner },
        );
      }
    } else {
      throw new ConfigError(`Cannot load the knexfile ${file}: ${(err as Error).message.split('\n')[0]}.`, {
        cause: err,
      });
    }
  }
  const exported = (mod.default ?? mod.config ?? mod) as Record<string, unknown>;
  const env = process.env.NODE_ENV ?? 'development';
  const config = ('client' in exported ? exported : exported[env]) as Knex.Config | undefined;
  if (!config || typeof config !== 'object' || !('client' in config)) {
    throw new ConfigError(
      `The knexfile ${file} exports no knex configuration (none at the top level, none for NODE_ENV "${env}").`,
    );
  }
  return config;
}

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description(
      'Take a snapshot tagged "pre-migration" (with the pending migration names), then run knex migrate:latest.',
    )
    .requiredOption(
      '--source <url>',
      'database URL to snapshot and migrate (overrides the knexfile connection)',
    )
    .requiredOption('--knexfile <file>', 'knex configuration file')
    .option('--name <name>', 'source name in the repository (default: host:port/database of the URL)')
    .addHelpText(
      'after',
      '\nExample:\n  crm-backup migrate --repo /srv/backups/crm --source postgres://deploy@db:5432/crm --knexfile ./knexfile.js\n',
    )
    .action(
      action<MigrateOpts>(async (opts, ctx) => {
        if (!opts.source || !opts.knexfile)
          throw new UsageError('migrate needs --source URL and --knexfile FILE.');
        const driver = await driverFor(opts.source);
        const config = await loadKnexfile(opts.knexfile);
        // The snapshot and the migration must touch the same database: --source wins.
        const { default: knex } = await import('knex');
        const db = knex({ ...config, connection: opts.source });
        try {
          const [, pending] = (await db.migrate.list(config.migrations)) as [
            unknown[],
            Array<{ file?: string; name?: string } | string>,
          ];
          const names = pending.map((m) => (typeof m === 'string' ? m : (m.name ?? m.file ?? String(m))));
          if (names.length === 0) {
            ctx.log.info('migrate.none', 'No pending migrations; nothing to do.');
            return;
          }
          const repo = await openRepo(opts);
          let snapshotId: string;
          try {
            const result = await runSnapshot({
              repo,
              driver,
              sourceUrl: opts.source,
              name: opts.name ?? (await defaultSourceName(opts.source)),
              tags: ['pre-migration', ...names.map((n) => `migration:${n}`)],
              jobs: 2,
              log: ctx.log,
              signal: ctx.signal,
            });
            snapshotId = result.id;
          } finally {
            await repo.close();
          }
          ctx.log.info(
            'migrate.snapshot',
            `Snapshot ${snapshotId} taken before ${names.length} migrations: ${names.join(', ')}.`,
          );
          try {
            await db.migrate.latest(config.migrations);
          } catch (err) {
            const restore = `crm-backup restore --repo ${repoLocation(opts)} --target <EMPTY_DATABASE_URL> --snapshot ${snapshotId}`;
            ctx.log.error('migrate.failed', `Migration failed: ${(err as Error).message.split('\n')[0]}`);
            ctx.print(
              `The migration failed. The database as it was before is snapshot ${snapshotId}; restore it with:\n  ${restore}`,
            );
            return 1;
          }
          ctx.print(
            ctx.json
              ? JSON.stringify({ snapshot: snapshotId, migrations: names })
              : `Migrated ${redactUrl(opts.source)}: ${names.join(', ')} (pre-migration snapshot ${snapshotId}).`,
          );
        } finally {
          await db.destroy();
        }
      }),
    );
}
