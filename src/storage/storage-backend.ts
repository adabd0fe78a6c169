/**
 * The blob-store contract. Keys are `/`-separated relative paths (`data/ab/abcdef…`).
 * Implementations throw StorageError (with `permanent`) and never leave a partial object visible.
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
  put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<void>;
  /** Throws StorageError with reason `not-found` when the key does not exist. */
  get(
    key: string,
    range?: { offset: number; length: number },
    opts?: { signal?: AbortSignal },
  ): Promise<AsyncIterable<Uint8Array>>;
  list(prefix: string, opts?: { signal?: AbortSignal }): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  stat(key: string): Promise<{ size: number; modified: Date } | undefined>;
  close?(): Promise<void>;
}
