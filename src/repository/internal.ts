/** The maintenance functions (verify, forget, prune) need the implementation behind the Repository interface. */
import { RepositoryError } from '../util/errors.js';
import type { Repository } from './repository-api.js';
import { CrmRepository } from './repository.js';

export function asCrm(repo: Repository): CrmRepository {
  if (!(repo instanceof CrmRepository)) {
    throw new RepositoryError('This operation needs a repository opened with openRepository or initRepository.');
  }
  return repo;
}
