/**
 * Which streams are running, read from the repository's locks: a stream holds a shared lock while
 * it runs, and its purpose names the source and how often it stores a segment. A restore asked
 * for a time after the stored log says so, and can wait for the next segment (restore --wait).
 *
 * The purpose is `stream of <source>, storing a segment about every <n> s`; streams of older
 * versions wrote `stream of <source>` (running, interval unknown).
 */
import type { Repository } from './repository-api.js';
import { CrmRepository } from './repository.js';

const PREFIX = 'stream of ';
const EVERY = /, storing a segment about every (\d+) s$/;

export interface RunningStream {
  readonly host: string;
  readonly pid: number;
  /** The stream's --segment-seconds, when its lock says. */
  readonly segmentSeconds?: number;
}

/** The lock purpose of a stream of `source`. */
export function streamLockPurpose(source: string, segmentSeconds: number): string {
  return `${PREFIX}${source}, storing a segment about every ${segmentSeconds} s`;
}

/** The streams of `source` whose lock is live (refreshed within the stale age), by their lock. */
export async function runningStreams(repo: Repository, source: string): Promise<RunningStream[]> {
  if (!(repo instanceof CrmRepository)) return [];
  const out: RunningStream[] = [];
  for (const lock of await repo.locks.list()) {
    const purpose = lock.body?.purpose;
    if (lock.stale || !lock.body || !purpose?.startsWith(PREFIX)) continue;
    const every = EVERY.exec(purpose);
    const name = purpose.slice(PREFIX.length, every ? every.index : undefined);
    if (name !== source) continue;
    out.push({
      host: lock.body.host,
      pid: lock.body.pid,
      ...(every ? { segmentSeconds: Number(every[1]) } : {}),
    });
  }
  return out;
}
