import type { Command } from 'commander';
import { PATHS } from '../repository/format.js';
import { initRepository } from '../repository/index.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import { RepositoryError } from '../util/errors.js';
import { openStorageFor, readPassword } from './context.js';
import { action } from './run-command.js';

/** How many of the objects found in a non-empty location the refusal names. */
const NAMED = 3;

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Create a new, empty, encrypted repository (in an empty or new folder or S3 prefix).')
    .addHelpText('after', '\nExample:\n  CRM_BACKUP_PASSWORD=… crm-backup init --repo /srv/backups/crm\n')
    .action(
      action(async (opts, ctx) => {
        const storage = await openStorageFor(opts);
        const password = await readPassword(opts);
        await refuseOtherFiles(storage);
        const repo = await initRepository(storage, password);
        await repo.close();
        if (ctx.json) ctx.print(JSON.stringify({ repository: storage.location }));
        else
          ctx.print(
            `Created repository at ${storage.location}. Keep the password safe: without it nothing can be restored.`,
          );
      }),
    );
}

/**
 * A repository mixed into a folder of other files would be pruned, copied and deleted with them:
 * init goes only into an empty place. An existing repository is left to initRepository, which
 * refuses it in its own words.
 */
async function refuseOtherFiles(storage: StorageBackend): Promise<void> {
  if (await storage.stat(PATHS.config)) return;
  const found: string[] = [];
  for await (const o of storage.list('')) {
    found.push(o.key);
    if (found.length > NAMED) break;
  }
  if (found.length === 0) return;
  const named = found.slice(0, NAMED).join(', ') + (found.length > NAMED ? ' and more' : '');
  throw new RepositoryError(
    `Cannot create a repository at ${storage.location}: it is not empty (it holds ${named}) and is not a crm-backup repository; give init an empty or new folder or S3 prefix.`,
  );
}
