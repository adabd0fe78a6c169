/**
 * A repository in a local folder. Every write goes to a temp file in the target's
 * folder, is fsynced, then renamed (or hard-linked for create-only writes) into
 * place and the folder is fsynced: readers see the old object, the whole new one,
 * or nothing, and a crash leaves at most an ignorable `.tmp-*` file.
 */
import { randomBytes } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { link, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { AbortError, StorageError, throwIfAborted } from '../util/errors.js';
import { BodySourceError, chunksOf, markSourceErrors, type PutBody } from './body.js';
import { isErrno, mapFsError } from './fs-errors.js';
import { assertValidKey, assertValidPrefix, assertValidRange, TEMP_PREFIX } from './keys.js';
import type { ObjectInfo, PutOptions, StorageBackend } from './storage-backend.js';

/** Repository files hold ciphertext, but their names and sizes are still nobody else's business. */
const FILE_MODE = 0o600;
/** Reads are at most this big: a chunk object (≤ 8 MiB of plaintext) is read in one system call. */
const READ_CHUNK = 8 * 1024 * 1024;

export class LocalBackend implements StorageBackend {
  readonly location: string;
  readonly #root: string;

  private constructor(root: string) {
    this.#root = root;
    this.location = root;
  }

  /**
   * Opens (without creating) a folder repository. A missing folder is fine: the first put creates it,
   * and reads of a missing folder find nothing, so `init` and `list` share one code path.
   */
  static async open(root: string): Promise<LocalBackend> {
    const abs = resolve(root);
    try {
      const st = await stat(abs);
      if (!st.isDirectory()) {
        throw new StorageError(
          `Repository location ${abs} is not a folder; expected a folder path or s3://bucket/prefix.`,
          {
            permanent: true,
          },
        );
      }
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw mapFsError(e, 'open', abs);
    }
    return new LocalBackend(abs);
  }

  #pathOf(key: string): string {
    return join(this.#root, ...key.split('/'));
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    throwIfAborted(opts.signal);
    const final = this.#pathOf(key);
    const dir = dirname(final);
    const tmp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    let fh: FileHandle | undefined;
    let tmpExists = false;
    try {
      await this.#ensureDir(dir);
      fh = await open(tmp, 'wx', FILE_MODE);
      tmpExists = true;
      for await (const chunk of markSourceErrors(chunksOf(body))) {
        throwIfAborted(opts.signal);
        await writeAll(fh, chunk);
      }
      throwIfAborted(opts.signal);
      await fh.sync();
      await fh.close();
      fh = undefined;
      if (opts.ifAbsent) await this.#linkExclusive(tmp, final, key);
      else await rename(tmp, final);
      // After link the temp name still exists and is removed in finally; after rename it is gone.
      tmpExists = opts.ifAbsent === true;
      await fsyncDir(dir);
    } catch (e) {
      // The caller's body failing is the caller's error, not the disk's: pass it on unchanged.
      if (e instanceof BodySourceError) throw e.cause;
      if (e instanceof StorageError || e instanceof AbortError) throw e;
      throw mapFsError(e, 'write', final, key);
    } finally {
      if (fh) await fh.close().catch(() => undefined);
      if (tmpExists) await unlink(tmp).catch(() => undefined);
    }
  }

  /** link() fails with EEXIST when the name exists, atomically: two racing writers get exactly one winner. */
  async #linkExclusive(tmp: string, final: string, key: string): Promise<void> {
    try {
      await link(tmp, final);
    } catch (e) {
      if (isErrno(e, 'EEXIST')) {
        throw new StorageError(
          `Object ${key} already exists in ${this.location}; a create-only write expected it to be absent.`,
          {
            key,
            permanent: true,
            reason: 'exists',
            cause: e,
          },
        );
      }
      if (isErrno(e, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV')) {
        // We just created the temp file in this folder, so EPERM here means "no hard links", not "no access".
        throw new StorageError(
          `The file system holding ${this.location} does not support hard links, which create-only writes need; use a local file system such as ext4, xfs or APFS.`,
          { key, permanent: true, cause: e },
        );
      }
      throw e;
    }
  }

  /** mkdir -p, then fsync the parent of every folder it created so the new entries survive a crash. */
  async #ensureDir(dir: string): Promise<void> {
    const first = await mkdir(dir, { recursive: true });
    if (first === undefined) return;
    const created = relative(first, dir)
      .split(sep)
      .filter((s) => s !== '');
    let parent = dirname(first);
    await fsyncDir(parent);
    parent = first;
    for (const seg of created) {
      await fsyncDir(parent);
      parent = join(parent, seg);
    }
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    opts: { signal?: AbortSignal } = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    assertValidKey(key);
    if (range) assertValidRange(key, range);
    throwIfAborted(opts.signal);
    const path = this.#pathOf(key);
    let fh: FileHandle;
    try {
      // Opening pins the inode: a concurrent overwrite (rename) cannot mix two versions into one read.
      fh = await open(path, 'r');
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) throw this.#notFound(key, e);
      throw mapFsError(e, 'read', path, key);
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw this.#notFound(key);
      const start = range?.offset ?? 0;
      const endExclusive = range ? Math.min(st.size, range.offset + range.length) : st.size;
      if (endExclusive <= start) {
        await fh.close();
        return emptyIterable();
      }
      return readFile(fh, start, endExclusive, path, key, opts.signal);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e instanceof StorageError ? e : mapFsError(e, 'read', path, key);
    }
  }

  #notFound(key: string, cause?: unknown): StorageError {
    return new StorageError(`Object ${key} does not exist in ${this.location}.`, {
      key,
      permanent: true,
      reason: 'not-found',
      cause,
    });
  }

  /** Recursive; order is unspecified. Temp files of in-flight or crashed writes are skipped. */
  async *list(prefix: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    yield* this.#walk(slash >= 0 ? prefix.slice(0, slash) : '', prefix, opts.signal);
  }

  async *#walk(dirKey: string, prefix: string, signal: AbortSignal | undefined): AsyncIterable<ObjectInfo> {
    const dirPath = dirKey === '' ? this.#root : this.#pathOf(dirKey);
    const entries = await readDirOrEmpty(dirPath);
    for (const ent of entries) {
      throwIfAborted(signal);
      if (ent.name.startsWith(TEMP_PREFIX)) continue;
      const key = dirKey === '' ? ent.name : `${dirKey}/${ent.name}`;
      if (ent.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`))
          yield* this.#walk(key, prefix, signal);
        continue;
      }
      // Symlinks, sockets and the like are not objects this backend wrote.
      if (!ent.isFile() || !key.startsWith(prefix)) continue;
      try {
        const st = await stat(join(dirPath, ent.name));
        yield { key, size: st.size, modified: st.mtime };
      } catch (e) {
        if (isErrno(e, 'ENOENT')) continue; // deleted while we were listing
        throw mapFsError(e, 'list', dirPath);
      }
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    const path = this.#pathOf(key);
    try {
      await unlink(path);
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return; // already gone: delete is idempotent
      throw mapFsError(e, 'delete', path, key);
    }
  }

  async stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    assertValidKey(key);
    const path = this.#pathOf(key);
    try {
      const st = await stat(path);
      return st.isFile() ? { size: st.size, modified: st.mtime } : undefined;
    } catch (e) {
      if (isErrno(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw mapFsError(e, 'stat', path, key);
    }
  }

  /**
   * Removes `.tmp-*` files older than `olderThanMs` (left by writers that were killed).
   * Pick an age well above the longest put, or a live writer's temp file goes away under it.
   * Returns how many files were removed.
   */
  async cleanupTemp(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    const visit = async (dirPath: string): Promise<void> => {
      for (const ent of await readDirOrEmpty(dirPath)) {
        const p = join(dirPath, ent.name);
        if (ent.isDirectory()) await visit(p);
        else if (ent.isFile() && ent.name.startsWith(TEMP_PREFIX)) {
          try {
            if ((await stat(p)).mtimeMs < cutoff) {
              await unlink(p);
              removed++;
            }
          } catch (e) {
            if (!isErrno(e, 'ENOENT')) throw mapFsError(e, 'remove temporary file', p);
          }
        }
      }
    };
    await visit(this.#root);
    return removed;
  }
}

async function readDirOrEmpty(dirPath: string) {
  try {
    const entries = await readdir(dirPath, { withFileTypes: true });
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    if (isErrno(e, 'ENOENT', 'ENOTDIR')) return [];
    throw mapFsError(e, 'list', dirPath);
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let at = 0;
  while (at < chunk.length) {
    const { bytesWritten } = await fh.write(chunk, at, chunk.length - at);
    at += bytesWritten;
  }
}

/** Makes a rename/link/unlink in `dir` durable. Some platforms cannot open folders; there it is a no-op. */
async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    if (!isErrno(e, 'EISDIR', 'EPERM', 'EINVAL', 'EBADF')) throw e;
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

async function* readFile(
  fh: FileHandle,
  start: number,
  endExclusive: number,
  path: string,
  key: string,
  signal: AbortSignal | undefined,
): AsyncIterable<Uint8Array> {
  try {
    let pos = start;
    while (pos < endExclusive) {
      throwIfAborted(signal);
      // A fresh buffer per chunk: the consumer may keep it after asking for the next one.
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, endExclusive - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) {
        throw new StorageError(
          `Object ${key} at ${path} ended at byte ${pos}; expected ${endExclusive} bytes (was it truncated?).`,
          {
            key,
            permanent: true,
          },
        );
      }
      pos += bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } catch (e) {
    if (e instanceof StorageError || e instanceof AbortError) throw e;
    throw mapFsError(e, 'read', path, key);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function* emptyIterable(): AsyncIterable<Uint8Array> {}
