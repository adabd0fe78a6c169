/**
 * Errors by fault domain. Exit codes and retries switch on `code`, never on message text.
 * Every message is one sentence a DBA can act on, and never contains a secret.
 * `checkFailed`: `crm-backup check` ran and found a failing check (an unhealthy backup, not an error of the run).
 * `drillFailed`: `crm-backup drill` ran and the backup failed it (a damaged chunk, a table that does not match its checksum).
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  integrity: 3,
  checkFailed: 4,
  drillFailed: 5,
  interrupted: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type ErrorCode =
  | 'USAGE'
  | 'CONFIG'
  | 'SOURCE'
  | 'STORAGE'
  | 'REPOSITORY'
  | 'INTEGRITY'
  | 'ABORTED'
  | 'NOT_BUILT'
  | 'LOCKED'
  | 'RESTORE_REFUSED'
  | 'DRILL_FAILED';

export abstract class CrmBackupError extends Error {
  abstract readonly code: ErrorCode;
  abstract readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The command line or configuration is wrong: unknown option, bad URL scheme, missing value. */
export class UsageError extends CrmBackupError {
  readonly code = 'USAGE';
  readonly exitCode = EXIT.usage;
}

/** A setting of the environment is wrong (a file that cannot be read, a bad knexfile). */
export class ConfigError extends CrmBackupError {
  readonly code = 'CONFIG';
  readonly exitCode = EXIT.failure;
}

/** The database refused, is unreachable, or is not configured for what was asked. */
export class SourceError extends CrmBackupError {
  readonly code = 'SOURCE';
  readonly exitCode = EXIT.failure;
  /** Redacted description of the server this is about, e.g. `postgres://app@db:5432/crm`. */
  readonly source: string | undefined;
  constructor(message: string, options?: { cause?: unknown; source?: string }) {
    super(message, options);
    this.source = options?.source;
  }
}

/** The blob store failed. `permanent` tells the retry layer not to try again. */
export class StorageError extends CrmBackupError {
  readonly code = 'STORAGE';
  readonly exitCode = EXIT.failure;
  readonly key: string | undefined;
  readonly permanent: boolean;
  /** Machine-readable reason: `exists` (create-only write lost), `not-found`, `no-space`, or `io`. */
  readonly reason: 'exists' | 'not-found' | 'no-space' | 'io';
  constructor(
    message: string,
    options: { cause?: unknown; key?: string; permanent: boolean; reason?: StorageError['reason'] },
  ) {
    super(message, options);
    this.key = options.key;
    this.permanent = options.permanent;
    this.reason = options.reason ?? 'io';
  }
}

/** The repository cannot be used: wrong password, not a repository, damaged key file. */
export class RepositoryError extends CrmBackupError {
  readonly code = 'REPOSITORY';
  readonly exitCode = EXIT.failure;
}

/** Another process holds a lock that conflicts with this one. */
export class LockedError extends CrmBackupError {
  readonly code = 'LOCKED';
  readonly exitCode = EXIT.failure;
}

/** Data read back does not match what was written. */
export class IntegrityError extends CrmBackupError {
  readonly code = 'INTEGRITY';
  readonly exitCode = EXIT.integrity;
  /** What is damaged (object id, file), where it is used (snapshot/table/segment), and what was expected. */
  readonly what: string;
  readonly where: string | undefined;
  readonly expected: string | undefined;
  readonly got: string | undefined;
  constructor(
    message: string,
    details: { what: string; where?: string; expected?: string; got?: string; cause?: unknown },
  ) {
    super(message, { cause: details.cause });
    this.what = details.what;
    this.where = details.where;
    this.expected = details.expected;
    this.got = details.got;
  }
}

/** A restore that would not give exactly the committed state asked for (gap in the log, no snapshot). */
export class RestoreRefusedError extends CrmBackupError {
  readonly code = 'RESTORE_REFUSED';
  readonly exitCode = EXIT.failure;
}

/** A restore drill ran and the backup failed it; the message names the table and what was expected and found. */
export class DrillFailedError extends CrmBackupError {
  readonly code = 'DRILL_FAILED';
  readonly exitCode = EXIT.drillFailed;
}

/** The operation was interrupted (SIGINT/SIGTERM or an AbortSignal). */
export class AbortError extends CrmBackupError {
  readonly code = 'ABORTED';
  readonly exitCode = EXIT.interrupted;
  constructor(message = 'interrupted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A command whose engine is not built yet. It says so instead of pretending to work. */
export class NotBuiltError extends CrmBackupError {
  readonly code = 'NOT_BUILT';
  readonly exitCode = EXIT.failure;
}

export function isCrmBackupError(e: unknown): e is CrmBackupError {
  return e instanceof CrmBackupError;
}

/** Throws an AbortError when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('interrupted', { cause: signal.reason });
}
