/**
 * What every command shares: the repository location and password, the logger, and the
 * interrupt signal. Options are validated here, once, so commands stay thin.
 */
import { readFile } from 'node:fs/promises';
import { describeSourceUrl } from '../driver/registry.js';
import { openStorage } from '../storage/open-storage.js';
import { openRepository, type RepositoryOptions } from '../repository/index.js';
import type { Repository } from '../repository/repository-api.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import { ConfigError, UsageError } from '../util/errors.js';
import { createLogger, type Logger } from '../util/log.js';
import { Secret } from '../util/redact.js';

export interface GlobalOptions {
  readonly repo?: string;
  readonly passwordFile?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
}

export interface CommandContext {
  readonly log: Logger;
  readonly json: boolean;
  /** Fires on SIGINT/SIGTERM; long commands flush and exit 130 (stream exits 0). */
  readonly signal: AbortSignal;
  /** Where results go (stdout); logs and progress go to stderr. */
  print(text: string): void;
}

export function createContext(opts: GlobalOptions, signal: AbortSignal): CommandContext {
  const json = opts.json === true;
  return {
    log: createLogger({ json: json || undefined, quiet: opts.quiet }),
    json,
    signal,
    print: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  };
}

export function repoLocation(opts: GlobalOptions): string {
  const location = opts.repo ?? process.env.CRM_BACKUP_REPO;
  if (!location)
    throw new UsageError('No repository given; pass --repo PATH|s3://bucket/prefix or set CRM_BACKUP_REPO.');
  return location;
}

/** Where a password is read from, and how messages name it. */
export interface PasswordSource {
  /** The environment variable read when no file is given. */
  readonly env: string;
  /** The option naming a file, as the user types it. */
  readonly flag: string;
  /** What the password opens, for messages: "repository password". */
  readonly what: string;
}

export const REPOSITORY_PASSWORD: PasswordSource = {
  env: 'CRM_BACKUP_PASSWORD',
  flag: '--password-file',
  what: 'repository password',
};

/** The repository password comes from $CRM_BACKUP_PASSWORD or --password-file, never a flag value. */
export async function readPassword(
  opts: GlobalOptions,
  from: PasswordSource = REPOSITORY_PASSWORD,
): Promise<Secret> {
  if (opts.passwordFile) {
    let text: string;
    try {
      text = await readFile(opts.passwordFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        `Cannot read the password file ${opts.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`,
        {
          cause: err,
        },
      );
    }
    const pw = text.replace(/\r?\n$/, '');
    if (pw.length === 0) throw new ConfigError(`The password file ${opts.passwordFile} is empty.`);
    return new Secret(pw);
  }
  const env = process.env[from.env];
  if (env) return new Secret(env);
  throw new UsageError(`No ${from.what}; set ${from.env} or pass ${from.flag} FILE.`);
}

export async function openStorageFor(opts: GlobalOptions): Promise<StorageBackend> {
  return openStorage(repoLocation(opts));
}

export async function openRepo(
  opts: GlobalOptions,
  repoOptions: RepositoryOptions = {},
): Promise<Repository> {
  const storage = await openStorageFor(opts);
  return openRepository(storage, await readPassword(opts), repoOptions);
}

/** zstd levels the CLI accepts (`--compression`): 1 is fastest, 19 smallest. */
export function compressionLevel(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 19)
    throw new UsageError(`--compression takes a zstd level from 1 to 19, not "${v}".`);
  return n;
}

/**
 * The default `--name` of a source, read by its driver's rules: `postgres://app:pw@db.internal:5432/crm`
 * -> `db.internal:5432/crm`, `mongodb://a:27017,b:27017/crm` -> `a:27017,b:27017/crm` (never a user
 * or password). Works for planned drivers too, so their URLs fail only where the driver is needed.
 */
export async function defaultSourceName(url: string): Promise<string> {
  return (await describeSourceUrl(url)).defaultName;
}

export function positiveInt(name: string): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1)
      throw new UsageError(`${name} takes a whole number of 1 or more, not "${v}".`);
    return n;
  };
}

export function list(v: string): string[] {
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
