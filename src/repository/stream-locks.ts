/**
 * Which streams are running, read from the repository's locks: a stream holds a shared lock while
 * it runs, and its lock body says which source it stores and how often (`LockBody.stream`). A
 * restore asked for a time after the stored log says so, and can wait for the next segment
 * (restore --wait). Streams of crm-backup 0.1.0 wrote only the purpose `stream of <source>`:
 * running, interval unknown.
 */
import type { Repository } from './repository-api.js';
import { CrmRepository } from './repository.js';

const OLD_PURPOSE = 'stream of ';

export interface RunningStream {
  readonly host: string;
  readonly pid: number;
  /** The stream's --segment-seconds, when its lock says. */
  readonly segmentSeconds?: number;
  /** When the lock was last refreshed (the later of the holder's clock and the store's): the stream's heartbeat. */
  readonly refreshed: Date;
}

/** The streams of `source` whose lock is live (refreshed within the stale age), by their lock. */
export async function runningStreams(repo: Repository, source: string): Promise<RunningStream[]> {
  if (!(repo instanceof CrmRepository)) return [];
  const out: RunningStream[] = [];
  for (const lock of await repo.locks.list()) {
    const body = lock.body;
    if (lock.stale || !body) continue;
    const refreshed = new Date(Math.max(Date.parse(body.refreshed) || 0, lock.modified.getTime()));
    if (body.stream) {
      if (body.stream.source === source)
        out.push({ host: body.host, pid: body.pid, segmentSeconds: body.stream.segmentSeconds, refreshed });
    } else if (body.purpose === `${OLD_PURPOSE}${source}`) {
      out.push({ host: body.host, pid: body.pid, refreshed });
    }
  }
  return out;
}
