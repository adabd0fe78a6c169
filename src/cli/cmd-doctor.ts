import type { Command } from 'commander';
import type { Finding } from '../driver/finding.js';
import { driverFor } from '../driver/registry.js';
import { UsageError } from '../util/errors.js';
import { defaultSourceName } from './context.js';
import { action } from './run-command.js';

interface DoctorOpts {
  source?: string;
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
    .description('Preflight a source: settings, privileges and risky tables, each with the fix.')
    .requiredOption('--source <url>', 'database URL, e.g. postgres://backup@db:5432/crm')
    .addHelpText('after', '\nExample:\n  crm-backup doctor --source postgres://backup@db:5432/crm\n')
    .action(
      action<DoctorOpts>(async (opts, ctx) => {
        if (!opts.source) throw new UsageError('doctor needs --source URL.');
        const driver = await driverFor(opts.source);
        const source = await driver.openSource(opts.source, { name: await defaultSourceName(opts.source) });
        let findings: Finding[] = [];
        try {
          const seen = new Set<string>();
          for (const need of ['snapshot', 'stream'] as const) {
            for (const f of await source.preflight(need, { signal: ctx.signal })) {
              const key = `${f.check}|${f.subject ?? ''}|${f.message}`;
              if (!seen.has(key)) findings.push(f);
              seen.add(key);
            }
          }
        } finally {
          await source.close();
        }
        findings = findings.sort((a, b) => rank(b.severity) - rank(a.severity));
        if (ctx.json) ctx.print(JSON.stringify(findings, null, 2));
        else
          for (const f of findings)
            ctx.print(
              `${MARK[f.severity]}  ${f.message}${f.fix && !f.message.includes(f.fix) ? ` Fix: ${f.fix}` : ''}`,
            );
        return findings.some((f) => f.severity === 'error') ? 1 : 0;
      }),
    );
}

function rank(s: Finding['severity']): number {
  return { ok: 0, info: 1, warning: 2, error: 3 }[s];
}
