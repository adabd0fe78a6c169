/** Lock release at the end of a job: a failure is told, never swallowed (prune would wait on it). */
import type { RepositoryLock } from '../repository/repository-api.js';
import type { Logger } from '../util/log.js';

export async function releaseLock(lock: RepositoryLock, log: Logger): Promise<void> {
  await lock
    .release()
    .catch((err: unknown) =>
      log.warn(
        'repository.lock',
        `Could not remove this job's repository lock (${err instanceof Error ? err.message : String(err)}); prune treats it as held until it is 5 minutes old.`,
      ),
    );
}
