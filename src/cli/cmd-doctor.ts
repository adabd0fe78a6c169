import type { Command } from 'commander';
import type { Finding } from '../driver/finding.js';
import { mergeFindings, severityRank } from '../driver/preflight.js';
import { driverFor } from '../driver/registry.js';
import { UsageError } from '../util/errors.js';
import type { DriverModule } from '../driver/driver-module.js';
import { defaultSourceName, openRepo } from './context.js';
import { action } from './run-command.js';

interface DoctorOpts {
  source?: string;
  name?: string;
  repo?: string;
  passwordFile?: string;
}

/**
 * The last position the repository stores for `name`'s log, when a repository is given (--repo
 * or $CRM_BACKUP_REPO): the driver compares it with what the server still retains.
 */
async function storedPosition(
  opts: DoctorOpts,
  name: string,
  driver: DriverModule,
): Promise<string | undefined> {
  if (!opts.repo && !process.env.CRM_BACKUP_REPO) return undefined;
  const repo = await openRepo(opts);
  try {
    return (await repo.listSegments(name))
      .map((s) => s.lastPosition)
      .sort(driver.comparePositions)
      .at(-1);
  } finally {
    await repo.close();
  }
}

const MARK: Record<Finding['severity'], string> = {
  ok: 'ok  ',
  info: 'info',
  warning: 'warn',
  error: 'FAIL',
};

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description(
      'Preflight a source: settings, privileges and risky tables, each with the fix, and what the stream has installed on the source or will install or change there.',
    )
    .requiredOption('--source <url>', 'database URL, e.g. postgres://backup@db:5432/crm')
    .option(
      '--name <name>',
      "the source's name, as stream is given it (default: host:port/database of the URL)",
    )
    .addHelpText(
      'after',
      "\nWith a repository (--repo or $CRM_BACKUP_REPO), the source's last stored log position is compared with what the server still retains (MongoDB: the oplog window).\n\nExample:\n  crm-backup doctor --source postgres://backup@db:5432/crm\n",
    )
    .action(
      action<DoctorOpts>(async (opts, ctx) => {
        if (!opts.source) throw new UsageError('doctor needs --source URL.');
        const driver = await driverFor(opts.source);
        const name = opts.name ?? (await defaultSourceName(opts.source));
        const stored = await storedPosition(opts, name, driver);
        const source = await driver.openSource(opts.source, { name });
        const found: Finding[][] = [];
        try {
          // a check both needs make reports for each: merged, it is printed once, the stricter kept
          // a driver whose change log is not built yet is checked for what it can do (snapshots)
          for (const need of ['snapshot', 'stream'] as const)
            if (need !== 'stream' || driver.capabilities.changeLog)
              found.push(
                await source.preflight(need, {
                  signal: ctx.signal,
                  ...(stored === undefined ? {} : { storedPosition: stored }),
                }),
              );
        } finally {
          await source.close();
        }
        const findings = mergeFindings(found).sort(
          (a, b) => severityRank(b.severity) - severityRank(a.severity),
        );
        if (ctx.json) ctx.print(JSON.stringify(findings, null, 2));
        else for (const f of findings) ctx.print(formatFinding(f));
        return findings.some((f) => f.severity === 'error') ? 1 : 0;
      }),
    );
}

/** `FAIL  [pg.wal_level] <message>`, and the fix on a line of its own under it. */
export function formatFinding(f: Finding): string {
  const line = `${MARK[f.severity]}  [${f.id}] ${f.message}`;
  return f.fix ? `${line}\n${' '.repeat(6)}Fix: ${f.fix}` : line;
}
