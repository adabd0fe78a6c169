/** The storage layer: the blob-store contract, its backends and decorators. Imports nothing above src/util. */
export type { ObjectInfo, PutOptions, StorageBackend } from './storage-backend.js';
export { collectBytes, isReplayable, replayableBody, type PutBody, type ReplayableBody } from './body.js';
export { assertValidKey, assertValidPrefix } from './keys.js';
export { LocalBackend } from './local-backend.js';
export { DEFAULT_PART_SIZE, S3Backend, type S3BackendOptions } from './s3-backend.js';
export { parseS3Location, s3SettingsFromEnv, type S3Location, type S3Settings } from './s3-location.js';
export { RetryBackend, type RetryBackendOptions } from './retry-backend.js';
export { DEFAULT_RETRY, isRetryable, sleep, withRetry, type RetryInfo, type RetryPolicy } from './retry.js';
export { FaultInjectionBackend, type FaultKind, type FaultOp, type FaultRule } from './fault-backend.js';
export { openStorage, type OpenStorageOptions } from './open-storage.js';
export { CountingBackend, type WriteCounts } from './counting-backend.js';
