import type { Command } from 'commander';
import {
  listTransactions,
  newLogStats,
  openSourceLog,
  resolveReference,
  transactionChanges,
} from '../restore/log.js';
import { UsageError } from '../util/errors.js';
import { formatDuration } from '../util/log.js';
import { parseTimeMicros } from '../util/time.js';
import { list, openRepo, positiveInt, type CommandContext } from './context.js';
import { entryJson, formatChange, formatCounts, formatEntry } from './log-format.js';
import { action } from './run-command.js';

interface LogOpts {
  name?: string;
  from?: string;
  to?: string;
  tables?: string[];
  minChanges?: number;
  all?: boolean;
  show?: string;
  limit?: number;
}

const DEFAULT_LIMIT = 50;
/** Output is written in pieces of about this size, waiting when the reader is slower. */
const FLUSH_CHARS = 64 * 1024;

export function registerLog(program: Command): void {
  program
    .command('log')
    .description(
      'List the stored transactions in commit order (reference, commit time, changes per table), or show one with --show; reads only the repository.',
    )
    .option('--name <name>', "source (default: the repository's only source)")
    .option('--from <time>', 'only commits at or after this ISO 8601 time with a zone')
    .option('--to <time>', 'only commits at or before this ISO 8601 time with a zone')
    .option('--tables <list>', 'only transactions touching one of these tables (comma-separated)', list)
    .option(
      '--min-changes <k>',
      'only transactions with at least k row changes',
      positiveInt('--min-changes'),
    )
    .option('--all', "also crm-backup's own transactions (idle markers, sequence records)")
    .option('--show <ref>', 'the row changes of this transaction (a reference from the list)')
    .option(
      '--limit <n>',
      `with --show: at most n row changes (default ${DEFAULT_LIMIT})`,
      positiveInt('--limit'),
    )
    .addHelpText(
      'after',
      '\nExamples:\n  crm-backup log --repo /srv/backups/crm --from 2026-11-21T13:30:00+01:00 --to 2026-11-21T14:30:00+01:00 --tables contacts\n  crm-backup log --repo /srv/backups/crm --show 745@0/16B3748\n  crm-backup restore --repo /srv/backups/crm --target postgres://dba@db2:5432/crm_restored --before 745@0/16B3748\n',
    )
    .action(
      action<LogOpts>(async (opts, ctx) => {
        const listing = [opts.from, opts.to, opts.tables, opts.minChanges, opts.all].some(
          (v) => v !== undefined,
        );
        if (opts.show !== undefined && listing)
          throw new UsageError(
            'log --show REF takes only --name, --limit and --json; list first, then show one transaction.',
          );
        if (opts.limit !== undefined && opts.show === undefined)
          throw new UsageError('--limit goes with --show REF.');
        const fromMicros = opts.from === undefined ? undefined : parseTimeMicros(opts.from);
        const toMicros = opts.to === undefined ? undefined : parseTimeMicros(opts.to);
        if (fromMicros !== undefined && toMicros !== undefined && fromMicros > toMicros)
          throw new UsageError(`--from ${opts.from} is after --to ${opts.to}.`);
        const repo = await openRepo(opts);
        try {
          const log = await openSourceLog(repo, opts.name);
          if (opts.show !== undefined)
            return await show(ctx, repo, log, opts.show, opts.limit ?? DEFAULT_LIMIT);
          const out = new Output();
          const started = Date.now();
          const stats = newLogStats();
          let listed = 0;
          for await (const entry of listTransactions(
            repo,
            log,
            {
              fromMicros,
              toMicros,
              tables: opts.tables,
              minChanges: opts.minChanges,
              all: opts.all,
              signal: ctx.signal,
            },
            stats,
          )) {
            listed++;
            if (!(await out.line(ctx.json ? JSON.stringify(entryJson(entry)) : formatEntry(entry)))) break;
          }
          await out.close();
          ctx.log.info(
            'log.listed',
            `Listed ${listed} of ${stats.transactionsRead} transactions read from ${stats.segmentsRead} of ${stats.segments} log segments in ${formatDuration(Date.now() - started)}.`,
            {
              listed,
              transactions: stats.transactionsRead,
              segmentsRead: stats.segmentsRead,
              segments: stats.segments,
            },
          );
        } finally {
          await repo.close();
        }
      }),
    );
}

async function show(
  ctx: CommandContext,
  repo: Parameters<typeof transactionChanges>[0],
  log: Parameters<typeof transactionChanges>[1],
  text: string,
  limit: number,
): Promise<void> {
  const located = await resolveReference(repo, log, text, (m) => new UsageError(m), { signal: ctx.signal });
  const { entry } = located;
  const rows = [];
  const notes: string[] = [];
  let total = 0;
  for await (const change of transactionChanges(repo, log, located, ctx.signal)) {
    total++;
    if (change.missing && !notes.includes(change.missing)) notes.push(change.missing);
    if (rows.length < limit) rows.push(change);
  }
  if (ctx.json) {
    ctx.print(JSON.stringify({ ...entryJson(entry), rows, shown: rows.length, total, notes }, null, 2));
    return;
  }
  const out = new Output();
  const what = [...entry.tables.map(formatCounts), ...entry.statements.map((s) => `statement: ${s}`)];
  await out.line(
    `Transaction ${entry.ref}, committed ${entry.commitTime}: ${what.join('; ') || 'no row changes'}`,
  );
  for (const r of rows) if (!(await out.line(formatChange(r)))) return;
  for (const n of notes) await out.line(n);
  if (rows.length < total)
    await out.line(`Showing ${rows.length} of ${total} changes; --limit N shows more.`);
  await out.flush();
}

/**
 * stdout, written in pieces with backpressure; `line` returns false once the reader has gone
 * (`log | head`), which ends the listing quietly rather than with an EPIPE crash.
 */
class Output {
  private buffer = '';
  private closed = false;
  private readonly onError = (): void => {
    this.closed = true; // EPIPE: the reader has gone
  };

  constructor() {
    process.stdout.on('error', this.onError);
  }

  async line(text: string): Promise<boolean> {
    this.buffer += `${text}\n`;
    if (this.buffer.length >= FLUSH_CHARS) await this.flush();
    return !this.closed;
  }

  /** Resolves once the piece is handed to the system: a slow reader slows the listing, memory stays bounded. */
  flush(): Promise<void> {
    const chunk = this.buffer;
    this.buffer = '';
    if (this.closed || chunk.length === 0) return Promise.resolve();
    return new Promise((resolve) => process.stdout.write(chunk, () => resolve()));
  }

  /** Writes what is left; stdout errors are no longer ours to handle after this. */
  async close(): Promise<void> {
    await this.flush();
    process.stdout.off('error', this.onError);
  }
}
