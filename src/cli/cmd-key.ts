import type { Command } from 'commander';
import { addKey, listKeys, removeKey } from '../repository/index.js';
import { UsageError } from '../util/errors.js';
import { openStorageFor, readPassword, type PasswordSource } from './context.js';
import { action } from './run-command.js';

const NEW_PASSWORD: PasswordSource = {
  env: 'CRM_BACKUP_NEW_PASSWORD',
  flag: '--new-password-file',
  what: 'new password for the key',
};

interface KeyAddOpts {
  newPasswordFile?: string;
  label?: string;
}

export function registerKey(program: Command): void {
  const key = program
    .command('key')
    .description('Manage the passwords that open the repository (several may open one repository).')
    .addHelpText(
      'after',
      '\nExamples:\n  CRM_BACKUP_NEW_PASSWORD=… crm-backup key add --repo /srv/backups/crm --label ops-team\n  crm-backup key list --repo /srv/backups/crm\n  crm-backup key remove --repo /srv/backups/crm 3f9c2a\n',
    );
  key
    .command('add')
    .description('Add a password; the new one comes from $CRM_BACKUP_NEW_PASSWORD or --new-password-file.')
    .option('--new-password-file <file>', 'read the new password from this file')
    .option('--label <label>', 'a label to recognise the key by')
    .action(
      action<KeyAddOpts>(async (opts, ctx) => {
        const storage = await openStorageFor(opts);
        const current = await readPassword(opts);
        const fresh = await readPassword({ passwordFile: opts.newPasswordFile }, NEW_PASSWORD);
        const { id } = await addKey(storage, current, fresh, { label: opts.label });
        ctx.print(ctx.json ? JSON.stringify({ id }) : `Added key ${id}.`);
      }),
    );
  key
    .command('list')
    .description('List the keys of the repository.')
    .action(
      action(async (opts, ctx) => {
        const keys = await listKeys(await openStorageFor(opts), await readPassword(opts));
        if (ctx.json) return void ctx.print(JSON.stringify(keys, null, 2));
        for (const k of keys)
          ctx.print(
            `${k.current ? '*' : ' '} ${k.id}  ${k.created}  ${k.host ?? ''}  ${k.label ?? ''}`.trimEnd(),
          );
      }),
    );
  key
    .command('remove')
    .description('Remove a key (not the one in use, never the last).')
    .argument('<id>', 'key id, or a unique prefix of it (as shown by key list)')
    .action(
      action(async (opts, ctx, args) => {
        const id = args[0];
        if (!id) throw new UsageError('key remove needs the id of the key to remove.');
        const removed = await removeKey(await openStorageFor(opts), await readPassword(opts), id);
        ctx.print(ctx.json ? JSON.stringify({ removed: removed.id }) : `Removed key ${removed.id}.`);
      }),
    );
}
