import type { Command } from 'commander';
import { initRepository } from '../repository/index.js';
import { openStorageFor, readPassword } from './context.js';
import { action } from './run-command.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Create a new, empty, encrypted repository.')
    .addHelpText('after', '\nExample:\n  CRM_BACKUP_PASSWORD=… crm-backup init --repo /srv/backups/crm\n')
    .action(
      action(async (opts, ctx) => {
        const storage = await openStorageFor(opts);
        const repo = await initRepository(storage, await readPassword(opts));
        await repo.close();
        if (ctx.json) ctx.print(JSON.stringify({ repository: storage.location }));
        else
          ctx.print(
            `Created repository at ${storage.location}. Keep the password safe: without it nothing can be restored.`,
          );
      }),
    );
}
