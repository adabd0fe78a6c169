/** Shared plumbing for the seed and workload command lines: flags, one-sentence errors, exit codes. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { redactUrl } from '../../src/util/redact.js';

export class CliUsageError extends Error {}

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(options: T, argv: string[]) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new CliUsageError(err instanceof Error ? err.message : String(err));
  }
}

export function requireUrl(url: string | undefined, example: string): string {
  if (!url) throw new CliUsageError(`--url is required, e.g. ${example}.`);
  return url;
}

export function positiveNumber(flag: string, raw: string | undefined, fallback?: number): number {
  if (raw === undefined && fallback !== undefined) return fallback;
  const n = Number(raw);
  if (raw === undefined || !Number.isFinite(n) || n <= 0) throw new CliUsageError(`${flag} must be a positive number, got ${JSON.stringify(raw ?? '')}.`);
  return n;
}

/** Runs `main`, printing errors as one line (URL passwords stripped) with exit 2 for usage and 1 otherwise. */
export function runCli(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      let msg = err instanceof Error ? err.message : String(err);
      // knex prefixes the server's message with the whole statement: keep the server's sentence
      if (msg.length > 300 && msg.includes(' - ')) msg = msg.slice(msg.lastIndexOf(' - ') + 3);
      console.error(msg.replace(/[a-z][a-z0-9+.-]*:\/\/[^\s"']+/gi, (u) => redactUrl(u)));
      process.exit(err instanceof CliUsageError ? 2 : 1);
    },
  );
}
