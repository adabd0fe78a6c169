import type { Command } from 'commander';
import { runCopy, type CopySummary } from '../copy/copy-job.js';
import { EXIT, UsageError } from '../util/errors.js';
import { formatBytes, formatDuration } from '../util/log.js';
import { parseDurationMs, parseTimeMicros } from '../util/time.js';
import { copyCacheDir, openDestination } from './copy-destination.js';
import { openRepo, positiveInt } from './context.js';
import { action } from './run-command.js';

interface CopyOpts {
  to?: string;
  name: string[];
  since?: string;
  toPasswordFile?: string;
  jobs: number;
  cache: boolean;
}

/** `--since`: an ISO 8601 time with a zone, or how long ago (`36h`, `7d`). */
export function sinceMicros(v: string, now = Date.now()): bigint {
  const ago = parseDurationMs(v);
  if (ago !== undefined && !/^\d+$/.test(v.trim())) return BigInt(now - ago) * 1000n;
  try {
    return parseTimeMicros(v);
  } catch {
    throw new UsageError(
      `--since ${v}: give a time with a zone (2026-11-21T00:00:00Z) or how long ago (36h, 7d).`,
    );
  }
}

export function describeSummary(s: CopySummary): string {
  const copied = `${s.snapshots} snapshots and ${s.segments} log segments`;
  return s.snapshots + s.segments + s.damaged.length === 0
    ? `Nothing to copy (${s.alreadyThere} already in ${s.to}${s.tooOld ? `, ${s.tooOld} older than --since` : ''}); ${formatDuration(s.durationMs)}.`
    : `Copied ${copied} to ${s.to} in ${formatDuration(s.durationMs)}: read ${formatBytes(s.bytesRead)}, wrote ${s.objectsWritten} objects (${formatBytes(s.bytesWritten)}); ${s.alreadyThere} were there already${s.tooOld ? `, ${s.tooOld} older than --since were left out` : ''}.` +
        (s.damaged.length ? ` ${s.damaged.length} could not be copied because the source's data is damaged (${s.damaged.join(', ')}); run "crm-backup verify --read-data" on it.` : '');
}

export function registerCopy(program: Command): void {
  program
    .command('copy')
    .description(
      'Copy the snapshots and log segments another repository lacks into it (a second failure domain); incremental and resumable.',
    )
    .requiredOption('--to <location>', 'destination repository: a folder or s3://bucket/prefix (it must exist: init it first)')
    .option('--name <source>', 'only this source (repeatable)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--since <time>', 'only snapshots consistent at or after this time (ISO 8601, or 36h, 7d ago) and the log they need')
    .option(
      '--to-password-file <file>',
      "read the destination's password from this file; without it, from $CRM_BACKUP_TO_PASSWORD",
    )
    .option('--jobs <n>', 'table streams of a snapshot copied in parallel', positiveInt('--jobs'), 2)
    .option('--no-cache', 'read every manifest of both repositories instead of the local cache of what they hold')
    .addHelpText(
      'after',
      '\nThe destination has its own password (and may have its own S3 settings: CRM_BACKUP_TO_AWS_ACCESS_KEY_ID,\n_SECRET_ACCESS_KEY, _SESSION_TOKEN, _REGION, _ENDPOINT_URL). A run with nothing new reads no data and writes nothing.\n\nExample:\n  CRM_BACKUP_TO_PASSWORD=… crm-backup copy --repo /srv/backups/crm --to s3://crm-backups-eu/crm\n',
    )
    .action(
      action<CopyOpts>(async (opts, ctx) => {
        if (!opts.to) throw new UsageError('copy needs --to LOCATION.');
        const since = opts.since === undefined ? undefined : sinceMicros(opts.since);
        const from = await openRepo(opts);
        try {
          const to = await openDestination(opts.to, opts.toPasswordFile);
          try {
            const summary = await runCopy({
              from,
              to: to.repo,
              ...(opts.name.length ? { sources: opts.name } : {}),
              ...(since === undefined ? {} : { sinceMicros: since }),
              jobs: opts.jobs,
              ...(opts.cache ? { cacheDir: copyCacheDir() } : {}),
              written: () => to.storage.counts(),
              log: ctx.log,
              signal: ctx.signal,
            });
            ctx.print(ctx.json ? JSON.stringify(summary) : describeSummary(summary));
            return summary.damaged.length ? EXIT.integrity : EXIT.ok;
          } finally {
            await to.repo.close();
          }
        } finally {
          await from.close();
        }
      }),
    );
}
