/**
 * A repository under `s3://bucket/prefix` on AWS S3 or an S3-compatible store.
 *
 * Retries: the SDK's own retries are off (maxAttempts 1) so that one policy, with
 * our permanent/transient classification and AbortSignal handling, decides. Whole
 * operations are retried by RetryBackend; this backend retries single multipart
 * parts itself, because a part is the only copy of bytes already pulled from a
 * one-shot stream, and restarting a large upload for one failed part is wasteful.
 *
 * Create-only writes send `If-None-Match: *`, which AWS S3 (since 2024-08), MinIO
 * and R2 honour atomically. A store that ignores the header silently overwrites:
 * two racing writers then both "win". `probeIfAbsent()` detects such a store.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { AbortError, StorageError, throwIfAborted } from '../util/errors.js';
import { redactUrl } from '../util/redact.js';
import { BodySourceError, isReplayable, markSourceErrors, type PutBody } from './body.js';
import { assertValidKey, assertValidPrefix, assertValidRange } from './keys.js';
import { isRetryable, type RetryPolicy, withRetry } from './retry.js';
import { mapS3Error, s3ErrorInfo } from './s3-errors.js';
import {
  type Env,
  parseS3Location,
  type S3Location,
  type S3Settings,
  s3SettingsFromEnv,
} from './s3-location.js';
import { cutParts, MAX_PARTS, MIN_PART_SIZE } from './s3-parts.js';
import type { ObjectInfo, PutOptions, StorageBackend } from './storage-backend.js';

export interface S3BackendOptions {
  /** Where AWS_* variables are read; defaults to process.env. Tests pass their own. */
  readonly env?: Env;
  /** Multipart part size; bodies up to this size go in one PUT. Default 8 MiB, at least 5 MiB. */
  readonly partSize?: number;
  /** ListObjectsV2 page size (MaxKeys), at most 1000. */
  readonly listPageSize?: number;
  /** Retry of single parts (see the file comment). Default 4 attempts. */
  readonly partRetry?: RetryPolicy;
  /** Seconds to wait for a response before giving up on a request. Default 120. */
  readonly requestTimeoutSeconds?: number;
}

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

const NODE_VERSION_WARNING_OFF = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';

/**
 * Builds an S3Client without the SDK's NodeVersionSupportWarning, which every s3:// command would
 * print on Node.js < 22 (about the SDK's own future releases; this package pins its version).
 * The SDK's documented switch is read while the client is built, and the SDK then never checks
 * again: it is set for that moment only, so no other warning and no child process is affected.
 */
function withoutNodeVersionWarning<T>(build: () => T): T {
  const before = process.env[NODE_VERSION_WARNING_OFF];
  process.env[NODE_VERSION_WARNING_OFF] = 'true';
  try {
    return build();
  } finally {
    if (before === undefined) delete process.env[NODE_VERSION_WARNING_OFF];
    else process.env[NODE_VERSION_WARNING_OFF] = before;
  }
}

export class S3Backend implements StorageBackend {
  readonly location: string;
  readonly #client: S3Client;
  readonly #loc: S3Location;
  readonly #settings: S3Settings;
  readonly #partSize: number;
  readonly #pageSize: number;
  readonly #partRetry: RetryPolicy;

  constructor(location: string, opts: S3BackendOptions = {}) {
    this.#loc = parseS3Location(location);
    this.#settings = s3SettingsFromEnv(opts.env ?? process.env);
    this.location = `s3://${this.#loc.bucket}${this.#loc.prefix ? `/${this.#loc.prefix}` : ''}`;
    this.#partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? DEFAULT_PART_SIZE);
    this.#pageSize = Math.min(1000, Math.max(1, opts.listPageSize ?? 1000));
    this.#partRetry = opts.partRetry ?? { attempts: 4 };
    const s = this.#settings;
    this.#client = withoutNodeVersionWarning(
      () =>
        new S3Client({
          region: s.region,
          forcePathStyle: s.forcePathStyle,
          maxAttempts: 1,
          requestHandler: {
            requestTimeout: (opts.requestTimeoutSeconds ?? 120) * 1000,
            connectionTimeout: 10_000,
          },
          ...(s.endpoint ? { endpoint: s.endpoint } : {}),
          ...(s.credentials ? { credentials: s.credentials } : {}),
        }),
    );
  }

  #key(key: string): string {
    return this.#loc.prefix ? `${this.#loc.prefix}/${key}` : key;
  }

  #err(e: unknown, op: string, key: string | undefined, signal?: AbortSignal): Error {
    return mapS3Error(e, {
      op,
      key,
      location: this.location,
      endpoint: this.#settings.endpoint ? redactUrl(this.#settings.endpoint) : undefined,
      credentialSource: this.#settings.credentialSource,
      signal,
    });
  }

  async put(key: string, body: PutBody, opts: PutOptions = {}): Promise<void> {
    assertValidKey(key);
    throwIfAborted(opts.signal);
    const source = body instanceof Uint8Array ? body : markSourceErrors(body);
    const parts = cutParts(source, this.#partSize)[Symbol.asyncIterator]();
    try {
      const first = await parts.next();
      throwIfAborted(opts.signal);
      const second = await parts.next();
      throwIfAborted(opts.signal);
      if (second.done) {
        const bytes = first.value ?? new Uint8Array(0);
        // A one-shot stream now exists only in this buffer, so retry here; a create-only put is not
        // retried here because a lost answer would turn our own success into "exists" (RetryBackend
        // handles that case for bodies it can compare).
        if (isReplayable(body) || opts.ifAbsent) await this.#putSingle(key, bytes, opts);
        else await this.#retryHere(key, opts.signal, () => this.#putSingle(key, bytes, opts));
      } else await this.#putMultipart(key, first.value as Uint8Array, second.value, parts, opts);
    } catch (e) {
      // The caller's body failing is the caller's error, not the store's: pass it on unchanged.
      if (e instanceof BodySourceError) throw e.cause;
      throw this.#err(e, 'write', key, opts.signal);
    } finally {
      // Releases the caller's body stream when we stop early.
      await parts.return?.();
    }
  }

  async #putSingle(key: string, bytes: Uint8Array, opts: PutOptions): Promise<void> {
    await this.#client.send(
      new PutObjectCommand({
        Bucket: this.#loc.bucket,
        Key: this.#key(key),
        Body: bytes,
        ContentLength: bytes.length,
        ...(opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
      }),
      { abortSignal: opts.signal },
    );
  }

  async #putMultipart(
    key: string,
    first: Uint8Array,
    second: Uint8Array,
    rest: AsyncIterator<Uint8Array>,
    opts: PutOptions,
  ): Promise<void> {
    const Bucket = this.#loc.bucket;
    const Key = this.#key(key);
    // Not for correctness (the conditional Complete decides) but to avoid uploading a large body
    // only to be told at the end that the key was taken.
    if (opts.ifAbsent && (await this.stat(key)) !== undefined) {
      throw this.#err({ name: 'PreconditionFailed', $metadata: { httpStatusCode: 412 } }, 'write', key);
    }
    const created = await this.#client.send(new CreateMultipartUploadCommand({ Bucket, Key }), {
      abortSignal: opts.signal,
    });
    const UploadId = created.UploadId;
    if (!UploadId)
      throw new StorageError(
        `The store returned no upload id for ${key} in ${this.location}; expected an S3-compatible API.`,
        { key, permanent: true },
      );
    try {
      const done: { PartNumber: number; ETag: string }[] = [];
      let part: Uint8Array | undefined = first;
      let lookahead: Uint8Array | undefined = second;
      for (let n = 1; part !== undefined; n++) {
        if (n > MAX_PARTS) {
          throw new StorageError(
            `Object ${key} is larger than ${MAX_PARTS} parts of ${this.#partSize} bytes; expected a smaller object or a larger part size.`,
            { key, permanent: true },
          );
        }
        // Upload this part while the next one is read from the body: two parts in memory at most.
        const upload = this.#uploadPart(key, UploadId, n, part, opts.signal);
        const next: Promise<Uint8Array | undefined> =
          lookahead !== undefined
            ? Promise.resolve(lookahead)
            : rest.next().then((r) => (r.done ? undefined : r.value));
        lookahead = undefined;
        const [etag, following] = await Promise.all([upload, next]);
        done.push({ PartNumber: n, ETag: etag });
        part = following;
        throwIfAborted(opts.signal);
      }
      await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket,
          Key,
          UploadId,
          MultipartUpload: { Parts: done },
          ...(opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
        }),
        { abortSignal: opts.signal },
      );
    } catch (e) {
      // Parts of an unfinished upload are never visible as an object, but they cost storage until aborted.
      // No signal here: the abort must go out even when the caller's signal is what stopped us.
      // If it fails too, a bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop.
      await this.#client
        .send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }))
        .catch(() => undefined);
      throw e;
    }
  }

  /**
   * Retries a request whose body only we hold. When it still fails, the error becomes permanent:
   * RetryBackend retrying the whole put on top would multiply the attempts.
   */
  async #retryHere<T>(key: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const attempts = this.#partRetry.attempts ?? 4;
    try {
      return await withRetry('write', key, { ...this.#partRetry, attempts }, signal, async () => {
        try {
          return await fn();
        } catch (e) {
          throw this.#err(e, 'write', key, signal);
        }
      });
    } catch (e) {
      if (!isRetryable(e) || attempts <= 1) throw e;
      throw new StorageError(`${e.message.replace(/\.$/, '')}; gave up after ${attempts} attempts.`, {
        key,
        permanent: true,
        reason: e.reason,
        cause: e,
      });
    }
  }

  async #uploadPart(
    key: string,
    uploadId: string,
    n: number,
    part: Uint8Array,
    signal?: AbortSignal,
  ): Promise<string> {
    return this.#retryHere(key, signal, async () => {
      const out = await this.#client.send(
        new UploadPartCommand({
          Bucket: this.#loc.bucket,
          Key: this.#key(key),
          UploadId: uploadId,
          PartNumber: n,
          Body: part,
          ContentLength: part.length,
        }),
        { abortSignal: signal },
      );
      if (!out.ETag) {
        throw new StorageError(
          `The store returned no ETag for part ${n} of ${key}; expected an S3-compatible API.`,
          {
            key,
            permanent: true,
          },
        );
      }
      return out.ETag;
    });
  }

  async get(
    key: string,
    range?: { offset: number; length: number },
    opts: { signal?: AbortSignal } = {},
  ): Promise<AsyncIterable<Uint8Array>> {
    assertValidKey(key);
    if (range) assertValidRange(key, range);
    throwIfAborted(opts.signal);
    if (range?.length === 0) {
      // HTTP cannot express an empty range; still report a missing key as missing.
      if ((await this.stat(key)) === undefined) throw this.#err({ name: 'NoSuchKey' }, 'read', key);
      return empty();
    }
    let out;
    try {
      out = await this.#client.send(
        new GetObjectCommand({
          Bucket: this.#loc.bucket,
          Key: this.#key(key),
          ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
        }),
        { abortSignal: opts.signal },
      );
    } catch (e) {
      // 416: the range starts at or past the end. Ranges are clipped at the end, so that is "no bytes".
      const { name, status } = s3ErrorInfo(e);
      if (range && (name === 'InvalidRange' || status === 416)) return empty();
      throw this.#err(e, 'read', key, opts.signal);
    }
    const body = out.Body as AsyncIterable<Uint8Array> | undefined;
    if (!body) return empty();
    // A store that ignores Range answers 200 with the whole object; cut the range out ourselves.
    const ignoredRange = range !== undefined && out.ContentRange === undefined;
    return this.#readBody(body, key, ignoredRange ? range : undefined, opts.signal);
  }

  async *#readBody(
    body: AsyncIterable<Uint8Array>,
    key: string,
    slice: { offset: number; length: number } | undefined,
    signal: AbortSignal | undefined,
  ): AsyncIterable<Uint8Array> {
    let pos = 0;
    try {
      for await (const chunk of body) {
        throwIfAborted(signal);
        if (!slice) {
          yield chunk;
          continue;
        }
        const from = Math.max(0, slice.offset - pos);
        const to = Math.min(chunk.length, slice.offset + slice.length - pos);
        pos += chunk.length;
        if (to > from) yield chunk.subarray(from, to);
        if (pos >= slice.offset + slice.length) return;
      }
    } catch (e) {
      throw this.#err(e, 'read', key, signal);
    } finally {
      // Breaking out early must free the socket, not leave it half-read.
      (body as { destroy?: () => void }).destroy?.();
    }
  }

  async *list(prefix: string, opts: { signal?: AbortSignal } = {}): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    const strip = this.#loc.prefix ? this.#loc.prefix.length + 1 : 0;
    let token: string | undefined;
    do {
      throwIfAborted(opts.signal);
      let page;
      try {
        page = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.#loc.bucket,
            Prefix: this.#key(prefix),
            MaxKeys: this.#pageSize,
            ...(token ? { ContinuationToken: token } : {}),
          }),
          { abortSignal: opts.signal },
        );
      } catch (e) {
        throw this.#err(e, 'list', undefined, opts.signal);
      }
      for (const o of page.Contents ?? []) {
        // Folder markers made by consoles ("a/b/") are not objects of ours.
        if (o.Key === undefined || o.Key.endsWith('/')) continue;
        yield { key: o.Key.slice(strip), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      // S3 answers 204 for a missing key too, so this is idempotent; some stores say 404 instead.
      await this.#client.send(new DeleteObjectCommand({ Bucket: this.#loc.bucket, Key: this.#key(key) }));
    } catch (e) {
      const mapped = this.#err(e, 'delete', key);
      if (mapped instanceof StorageError && mapped.reason === 'not-found') return;
      throw mapped;
    }
  }

  async stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    assertValidKey(key);
    try {
      const out = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.#loc.bucket, Key: this.#key(key) }),
      );
      return { size: out.ContentLength ?? 0, modified: out.LastModified ?? new Date(0) };
    } catch (e) {
      const mapped = this.#err(e, 'stat', key);
      if (mapped instanceof StorageError && mapped.reason === 'not-found') return undefined;
      throw mapped;
    }
  }

  /**
   * Whether this store honours `If-None-Match: *` on PUT (true) or silently overwrites (false).
   * Writes and deletes one probe object under the prefix.
   */
  async probeIfAbsent(): Promise<boolean> {
    const key = `.probe-if-absent-${randomBytes(8).toString('hex')}`;
    const send = (): Promise<unknown> =>
      this.#client.send(
        new PutObjectCommand({
          Bucket: this.#loc.bucket,
          Key: this.#key(key),
          Body: new Uint8Array(1),
          IfNoneMatch: '*',
        }),
      );
    try {
      await send();
      try {
        await send();
        return false;
      } catch (e) {
        const { name, status } = s3ErrorInfo(e);
        if (name === 'PreconditionFailed' || status === 412) return true;
        if (name === 'NotImplemented' || status === 501) return false;
        throw this.#err(e, 'probe create-only writes on', undefined);
      }
    } catch (e) {
      throw e instanceof StorageError || e instanceof AbortError
        ? e
        : this.#err(e, 'probe create-only writes on', undefined);
    } finally {
      await this.#client
        .send(new DeleteObjectCommand({ Bucket: this.#loc.bucket, Key: this.#key(key) }))
        .catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    this.#client.destroy();
  }
}

async function* empty(): AsyncIterable<Uint8Array> {}
