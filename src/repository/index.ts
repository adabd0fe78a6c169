/** The repository's public surface: the engines and the CLI import from here and from repository-api.ts. */
export type * from './repository-api.js';
export { initRepository, openRepository } from './open.js';
export type { RepositoryOptions } from './repository.js';
export type { ScryptParams } from './keys.js';
export { addKey, listKeys, removeKey, type KeyInfo } from './key-ring.js';
