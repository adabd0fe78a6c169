/**
 * A restore to a time after the stored log: say how far the log is stored and whether a running
 * stream will store more (and when), refuse a time still in the future, and, with --wait, list the
 * log again until it covers the time. Waiting needs a running stream: nothing else stores the log.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Repository, SegmentManifest } from '../repository/repository-api.js';
import { runningStreams, type RunningStream } from '../repository/stream-locks.js';
import { RestoreRefusedError, throwIfAborted, UsageError } from '../util/errors.js';
import { formatDuration, type Logger } from '../util/log.js';
import { dateToMicros, formatMicros } from '../util/time.js';
import type { LogShortError, RestorePlan } from './plan.js';

export interface WaitOptions {
  /** Give up after this long (ms); undefined: wait as long as a stream of the source runs. */
  readonly limitMs?: number;
  /** How often the log is listed again (default 1000 ms). */
  readonly pollMs?: number;
}

/** The newest instant the stored log covers (µs), -1 when it covers none. */
export function storedUntil(segments: readonly SegmentManifest[]): bigint {
  return segments.reduce((max, s) => {
    const c = BigInt(s.coveredUntilMicros);
    return c > max ? c : max;
  }, -1n);
}

function storedPhrase(until: bigint): string {
  return until >= 0n ? `is complete only up to ${formatMicros(until)}` : 'holds no commit yet';
}

/**
 * Refuses (exit 2) an instant in the future: after this machine's clock and after every commit
 * the stored log holds (commit times are the server's clock, which may run ahead of this one).
 */
export function refuseFuture(
  source: string,
  at: bigint,
  segments: readonly SegmentManifest[],
  now: bigint = dateToMicros(new Date()),
): void {
  const newestCommit = segments.reduce((max, s) => {
    const c = BigInt(s.lastCommitMicros);
    return c > max ? c : max;
  }, -1n);
  if (at <= now || at <= newestCommit) return;
  const until = storedUntil(segments);
  const clock = `this machine's clock (it reads ${formatMicros(now)}): a restore can only reach commits that have happened.`;
  throw new UsageError(
    until >= 0n
      ? `The change log of ${source} ${storedPhrase(until)}; ${formatMicros(at)} is later, and in the future by ${clock}`
      : `${formatMicros(at)} is in the future by ${clock}`,
  );
}

/** The refusal of a time after the stored log, saying how far it is stored and what will store more. */
export function shortLogRefusal(
  source: string,
  short: LogShortError,
  segments: readonly SegmentManifest[],
  streams: readonly RunningStream[],
  now: number = Date.now(),
): RestoreRefusedError {
  const at = formatMicros(short.atMicros);
  const until = short.storedUntilMicros;
  const stream = streams[0];
  if (stream) {
    return new RestoreRefusedError(
      `The change log of ${source} ${storedPhrase(until)}; ${at} is later, and the stream of ${source} running on ${stream.host} (pid ${stream.pid}) ${cadence(stream, segments, now)}: restore again then, or add --wait to wait for it.`,
    );
  }
  if (until < 0n && segments.length === 0) {
    return new RestoreRefusedError(
      `No change log of ${source} is stored and no stream of ${source} is running, so ${at} cannot be restored exactly; restore a snapshot (--snapshot, --latest), and start "crm-backup stream" before taking snapshots to restore points in time later.`,
    );
  }
  return new RestoreRefusedError(
    `The change log of ${source} ${storedPhrase(until)}; ${at} is later, and no stream of ${source} is running: start "crm-backup stream" and restore once it has stored a segment, or restore an earlier time.`,
  );
}

/** `stores a segment about every 60 s (the next is due by about …)`. */
function cadence(stream: RunningStream, segments: readonly SegmentManifest[], now: number): string {
  if (stream.segmentSeconds === undefined)
    return 'stores a segment every --segment-seconds it was started with';
  const every = `stores a segment about every ${stream.segmentSeconds} s`;
  const last = Math.max(...segments.map((s) => Date.parse(s.createdAt)).filter((t) => !Number.isNaN(t)));
  if (!Number.isFinite(last)) return every;
  const due = new Date(last + stream.segmentSeconds * 1000);
  return due.getTime() >= now
    ? `${every} (the next is due by about ${due.toISOString()})`
    : `${every} (the next was due at ${due.toISOString()}; see the stream's log)`;
}

export interface WaitRequest {
  readonly repo: Repository;
  readonly source: string;
  /** The refusal the first plan gave. */
  readonly first: LogShortError;
  /** Plans again from a fresh listing of the log: the plan, or why the log is still short. */
  readonly plan: () => Promise<{ plan: RestorePlan } | { short: LogShortError; segments: SegmentManifest[] }>;
  readonly segments: readonly SegmentManifest[];
  readonly wait: WaitOptions;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

/**
 * Waits until the log covers the instant, then returns the plan. Refuses when no stream of the
 * source runs (at the start, or when it stops while waiting) and when the limit passes.
 */
export async function waitForLog(req: WaitRequest): Promise<RestorePlan> {
  const { repo, source, log, signal } = req;
  const at = formatMicros(req.first.atMicros);
  const started = Date.now();
  let short = req.first;
  let segments = req.segments;
  // No stream, nothing to wait for; one that just stopped stored its open segment before it
  // released its lock, so the log is listed once more before refusing.
  const withoutStream = async (): Promise<RestorePlan> => {
    const last = await req.plan();
    log.done();
    if ('plan' in last) return last.plan;
    throw shortLogRefusal(source, last.short, last.segments, []);
  };
  let streams = await runningStreams(repo, source);
  if (streams.length === 0) return withoutStream();
  const limit = req.wait.limitMs !== undefined ? `, for at most ${formatDuration(req.wait.limitMs)}` : '';
  log.info(
    'restore.wait',
    `Waiting for the change log of ${source} to reach ${at}${limit}: it ${storedPhrase(short.storedUntilMicros)}, and the stream running on ${streams[0]!.host} (pid ${streams[0]!.pid}) ${cadence(streams[0]!, segments, Date.now())}.`,
  );
  for (;;) {
    throwIfAborted(signal);
    await sleep(req.wait.pollMs ?? 1000, undefined, signal ? { signal } : {}).catch(() => {});
    throwIfAborted(signal);
    const next = await req.plan();
    if ('plan' in next) {
      log.done();
      log.info(
        'restore.waited',
        `The change log of ${source} now reaches ${at}; waited ${formatDuration(Date.now() - started)}.`,
      );
      return next.plan;
    }
    short = next.short;
    segments = next.segments;
    log.progress(
      'restore.waiting',
      `Waiting for the change log of ${source} to reach ${at}: it ${storedPhrase(short.storedUntilMicros)}`,
    );
    if (req.wait.limitMs !== undefined && Date.now() - started >= req.wait.limitMs) {
      log.done();
      throw new RestoreRefusedError(
        `Waited ${formatDuration(req.wait.limitMs)} for the change log of ${source} to reach ${at}, but it ${storedPhrase(short.storedUntilMicros)} (see the stream's log: is it keeping up?); nothing was restored.`,
      );
    }
    streams = await runningStreams(repo, source);
    if (streams.length === 0) return withoutStream();
  }
}
