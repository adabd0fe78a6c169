/**
 * `--repo` / `$CRM_BACKUP_REPO` to a backend: a folder path (or file:// URL) is a
 * local repository, `s3://bucket/prefix` is S3 behind the retry decorator, and any
 * other scheme is a usage error (exit 2) in one sentence.
 */
import { fileURLToPath } from 'node:url';
import { UsageError } from '../util/errors.js';
import { LocalBackend } from './local-backend.js';
import { RetryBackend, type RetryBackendOptions } from './retry-backend.js';
import type { S3BackendOptions } from './s3-backend.js';
import type { StorageBackend } from './storage-backend.js';

export interface OpenStorageOptions {
  /** S3 settings, including `env` (where AWS_* are read; default process.env). */
  readonly s3?: S3BackendOptions;
  /** Retry policy for S3; `false` returns the bare backend (tests). */
  readonly retry?: RetryBackendOptions | false;
}

// Two letters at least, so a Windows drive (`C:\repo`) is a path, not a scheme.
const SCHEME = /^([a-z][a-z0-9+.-]+):/i;

export async function openStorage(location: string, opts: OpenStorageOptions = {}): Promise<StorageBackend> {
  if (location.trim() === '') {
    throw new UsageError(
      'Repository location is empty; use a folder path or s3://bucket/prefix (--repo or CRM_BACKUP_REPO).',
    );
  }
  const scheme = SCHEME.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return LocalBackend.open(location);
  if (scheme === 'file') {
    let path: string;
    try {
      path = fileURLToPath(location);
    } catch {
      throw new UsageError(
        'Repository location file:… is not a valid file URL; expected file:///absolute/path or a plain folder path.',
      );
    }
    return LocalBackend.open(path);
  }
  if (scheme === 's3') {
    // loaded on demand: the AWS SDK is a tenth of a second of start-up for every local command
    const { S3Backend } = await import('./s3-backend.js');
    const s3 = new S3Backend(location, opts.s3);
    return opts.retry === false ? s3 : new RetryBackend(s3, opts.retry ?? {});
  }
  throw new UsageError(
    `Unknown repository location scheme "${scheme}:"; use a folder path or s3://bucket/prefix.`,
  );
}
