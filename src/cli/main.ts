/**
 * crm-backup command line: commander wiring, one file per command, exit codes in one place.
 * 0 ok, 1 failure, 2 usage, 3 integrity damage found, 4 a failing check (`check`), 130 interrupted.
 */
import { Command, CommanderError } from 'commander';
import { EXIT, isCrmBackupError } from '../util/errors.js';
import { describeError } from '../util/log.js';
import { registerCommands } from './commands.js';

export function buildProgram(): Command {
  const program = new Command('crm-backup')
    .description(
      'Database-aware backups for the databases behind CRM systems: snapshots, change logs, point-in-time restore.',
    )
    .version('0.1.0')
    .option('--repo <location>', 'repository: a folder or s3://bucket/prefix (default $CRM_BACKUP_REPO)')
    .option(
      '--password-file <file>',
      'read the repository password from this file; without it, the password is taken from $CRM_BACKUP_PASSWORD',
    )
    .option('--json', 'machine-readable output; logs as JSON lines on stderr')
    .option('-q, --quiet', 'no progress and no informational messages')
    // every subcommand's --help lists these too (they are inherited when the commands are added)
    .configureHelp({ showGlobalOptions: true })
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ outputError: () => {} });
  registerCommands(program);
  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ outputError: () => {} });
  return program;
}

/** Runs the CLI and returns the exit code (tests call this directly). */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      )
        return EXIT.ok;
      process.stderr.write(
        `crm-backup: ${err.message.replace(/^error: /, '')}${err.message.endsWith('.') ? '' : '.'} See "crm-backup --help".\n`,
      );
      return EXIT.usage;
    }
    process.stderr.write(`crm-backup: ${describeError(err)}\n`);
    if (process.env.CRMB_DEBUG && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
    return isCrmBackupError(err) ? err.exitCode : EXIT.failure;
  }
}
