/** What a repository occupies in its store: every object, as the store reports its size. */
import type { Repository } from './repository-api.js';
import { asCrm } from './internal.js';

/** Bytes of every object the repository's store holds (chunks, manifests, keys, locks), by one listing. */
export async function repositoryBytes(
  repository: Repository,
  opts: { signal?: AbortSignal } = {},
): Promise<number> {
  const { storage } = asCrm(repository);
  let bytes = 0;
  for await (const o of storage.list('', opts)) bytes += o.size;
  return bytes;
}
