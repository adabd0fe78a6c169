/**
 * Maps Node file-system errors to StorageError. The retry layer reads `permanent`,
 * so it matters which failures can go away by themselves (EMFILE, EIO on a network
 * mount) and which cannot (a full disk, a missing permission).
 */
import { StorageError } from '../util/errors.js';

function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

export function isErrno(e: unknown, ...codes: string[]): boolean {
  const code = errno(e);
  return code !== undefined && codes.includes(code);
}

/** `doing` completes "Could not … <path>", e.g. `write`, `read`, `list`. */
export function mapFsError(e: unknown, doing: string, path: string, key?: string): StorageError {
  if (e instanceof StorageError) return e;
  const code = errno(e) ?? 'unknown error';
  const base = { cause: e, key };
  switch (code) {
    case 'ENOENT':
      return new StorageError(`Could not ${doing} ${path}: it does not exist.`, {
        ...base,
        permanent: true,
        reason: 'not-found',
      });
    case 'ENOSPC':
    case 'EDQUOT':
      // Retrying does not free space; the operator has to.
      return new StorageError(
        `Could not ${doing} ${path}: no space left on the device (${code}); free space or move the repository.`,
        { ...base, permanent: true, reason: 'no-space' },
      );
    case 'EACCES':
    case 'EPERM': {
      const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
      return new StorageError(
        `Permission denied to ${doing} ${path}; the user running crm-backup${uid} needs read and write access to the repository folder.`,
        { ...base, permanent: true },
      );
    }
    case 'EROFS':
      return new StorageError(
        `Could not ${doing} ${path}: the file system is read-only; expected a writable repository folder.`,
        {
          ...base,
          permanent: true,
        },
      );
    case 'ENOTDIR':
    case 'EISDIR':
    case 'EEXIST': // mkdir of a folder whose name is taken by an object
    case 'ENAMETOOLONG':
    case 'EINVAL':
      return new StorageError(
        `Could not ${doing} ${path} (${code}); a file and a folder of the repository collide or the name is invalid.`,
        {
          ...base,
          permanent: true,
        },
      );
    default:
      // EMFILE, EAGAIN, EIO, EBUSY, ETIMEDOUT (network mounts)…: worth another try.
      return new StorageError(`Could not ${doing} ${path} (${code}).`, { ...base, permanent: false });
  }
}
