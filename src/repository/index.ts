/** The repository's public surface: the engines and the CLI import from here and from repository-api.ts. */
export type * from './repository-api.js';
export { initRepository, openRepository } from './open.js';
export type { RepositoryOptions } from './repository.js';
export type { ScryptParams } from './keys.js';
export { addKey, listKeys, removeKey, type KeyInfo } from './key-ring.js';
export {
  verifyRepository,
  type DataSubset,
  type VerifyOptions,
  type VerifyProblem,
  type VerifyReport,
} from './verify.js';
export type { Affected } from './references.js';
export { forget, type ForgetOptions, type ForgetPolicy, type ForgetResult } from './forget.js';
export { applyPolicy, type KeepPolicy, type Decision } from './retention.js';
export { prune, DEFAULT_PRUNE_GRACE_MS, type PruneOptions, type PruneResult } from './prune.js';
export { repositoryBytes } from './usage.js';
export {
  listManifestEntries,
  readManifestEntry,
  repositoryDigest,
  segmentSourceTag,
  sourceTag,
  type ManifestEntry,
} from './manifest-index.js';
