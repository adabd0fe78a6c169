/**
 * The blob-store contract. Keys are `/`-separated relative paths (`data/ab/abcdef…`):
 * no leading `/`, no empty, `.` or `..` segments, no backslash, no segment starting with
 * `.tmp-` (see keys.ts). Implementations throw StorageError (with `permanent` and `reason`)
 * or AbortError, and never leave a partial object visible.
 * test/unit/storage/conformance.ts is the executable form of this contract.
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

export interface PutOptions {
  /** Create-only: throw StorageError with reason `exists` (permanent) when the key already exists. */
  readonly ifAbsent?: boolean;
  readonly signal?: AbortSignal;
}

export interface StorageBackend {
  /** Human-readable location without secrets, e.g. `/srv/backups/crm` or `s3://bucket/prefix`. */
  readonly location: string;
  /**
   * Stores the whole body under `key`, replacing what was there (unless `ifAbsent`). Readers see
   * the previous object or the complete new one, never a part. A stream body is read once, with
   * backpressure; an error thrown by the body is passed on unchanged and nothing is stored.
   */
  put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void>;
  /**
   * Throws StorageError with reason `not-found` when the key does not exist. A range is clipped at
   * the end of the object: an offset at or past the end yields no bytes. Consume the returned
   * iterable or break out of it: that releases the file or connection it holds.
   */
  get(
    key: string,
    range?: { offset: number; length: number },
    opts?: { signal?: AbortSignal },
  ): Promise<AsyncIterable<Uint8Array>>;
  /** Every object whose key starts with `prefix` (a plain string prefix, like S3), in no particular order. */
  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** `undefined` when the key does not exist. */
  stat(key: string): Promise<{ size: number; modified: Date } | undefined>;
  close?(): Promise<void>;
}
