/**
 * Stream job: committed transactions -> log segments in the repository -> acknowledgement.
 * Invariant: a position is acknowledged to the database only after the segment holding it is
 * committed (manifest stored). A crash anywhere loses nothing: the database re-sends what was
 * not acknowledged, and the driver drops what the repository already has (positions <= from).
 */
import { releaseLock } from './release-lock.js';
import { guardDriver } from '../driver/guard.js';
import { assertWrittenBy } from '../driver/position-order.js';
import type { DriverModule } from '../driver/driver-module.js';
import { isHeartbeat, type ChangeLog, type Position, type SourceDriver } from '../driver/source-driver.js';
import type { Repository } from '../repository/repository-api.js';
import { AbortError } from '../util/errors.js';
import { formatBytes, type Logger } from '../util/log.js';
import { formatMicros } from '../util/time.js';
import { OpenSegment } from './log-segment.js';
import { refuseOnErrors } from '../driver/preflight.js';

export interface StreamJobOptions {
  readonly repo: Repository;
  readonly driver: DriverModule;
  readonly sourceUrl: string;
  readonly name: string;
  /** Roll a segment once it holds this many framed bytes (at a transaction boundary). */
  readonly segmentBytes: number;
  /** Roll a segment this many seconds after it was opened; also how often an idle log proves coverage. */
  readonly segmentSeconds: number;
  readonly heartbeatMs?: number;
  readonly markerMs?: number;
  readonly log: Logger;
  readonly signal: AbortSignal;
  /** Called after each committed segment (tests and the demo use it to wait for coverage). */
  readonly onSegment?: (info: {
    lastPosition: Position;
    coveredUntilMicros: bigint;
    transactions: number;
  }) => void;
}

export interface StreamResult {
  readonly segments: number;
  readonly transactions: number;
  readonly lastPosition: Position | undefined;
}

export async function runStream(opts: StreamJobOptions): Promise<StreamResult> {
  const { repo, log } = opts;
  // capabilities the driver does not declare are refused here, before anything is written
  const driver = guardDriver(opts.driver);
  const lock = await repo.lock('shared', {
    purpose: `stream of ${opts.name}`,
    stream: { source: opts.name, segmentSeconds: opts.segmentSeconds },
  });
  const stop = new AbortController();
  // The lock's signal firing means another process may prune under us: stop with an error.
  const lockLost = (): void =>
    stop.abort(new AbortError('The repository lock could not be refreshed; the stream stops.'));
  lock.signal.addEventListener('abort', lockLost, { once: true });
  const userStop = (): void => stop.abort();
  opts.signal.addEventListener('abort', userStop, { once: true });
  if (opts.signal.aborted) stop.abort();

  let source: SourceDriver | undefined;
  let changeLog: ChangeLog | undefined;
  let segment: OpenSegment | undefined;
  let segments = 0;
  let transactions = 0;
  let last: Position | undefined;
  try {
    source = await driver.openSource(opts.sourceUrl, { name: opts.name });
    refuseOnErrors(await source.preflight('stream', { signal: stop.signal }), log);
    const stored = await repo.listSegments(opts.name);
    assertWrittenBy(stored, driver.kind);
    last = stored
      .map((s) => s.lastPosition)
      .sort(driver.comparePositions)
      .at(-1);
    changeLog = await source.openChangeLog(last, {
      signal: stop.signal,
      heartbeatMs: opts.heartbeatMs ?? Math.min(1000, opts.segmentSeconds * 500),
      // An idle source proves coverage through marker commits; often enough to fill each segment.
      markerMs: opts.markerMs ?? Math.min(5000, opts.segmentSeconds * 500),
      onStatus: (s) => {
        if (s.event === 'reconnecting')
          log.warn('stream.reconnecting', s.message ?? 'Reconnecting to the source.');
        else if (s.message) log.warn('stream.source', s.message);
        else if (s.lagSeconds !== undefined) {
          log.progress(
            'stream.lag',
            `Streaming ${opts.name}: lag ${s.lagSeconds.toFixed(1)} s, ${transactions} transactions stored`,
            {
              lagSeconds: s.lagSeconds,
            },
          );
        }
      },
    });
    if (last !== undefined && driver.comparePositions(changeLog.from, last) > 0) {
      log.warn(
        'stream.gap',
        `The source can only continue from ${changeLog.from}, after the last stored position ${last}; restores into that gap will be refused.`,
      );
    }
    log.info('stream.start', `Streaming ${opts.name} from position ${changeLog.from}.`, {
      from: changeLog.from,
    });
    let position = changeLog.from;
    let lastCommitAt = Date.now();

    const commit = async (): Promise<void> => {
      if (!segment) return;
      const seg = segment;
      segment = undefined;
      const m = await seg.commit();
      await changeLog!.acknowledge(m.lastPosition);
      segments++;
      lastCommitAt = Date.now();
      log.info(
        'stream.segment',
        `Stored segment ${m.id.slice(0, 12)}: ${m.transactions} transactions, ${m.changes} changes, ${formatBytes(m.data.bytes)}; ${BigInt(m.coveredUntilMicros) >= 0n ? `complete up to ${formatMicros(BigInt(m.coveredUntilMicros))}` : 'no commits (position advanced)'}.`,
        { segment: m.id, transactions: m.transactions, lastPosition: m.lastPosition },
      );
      opts.onSegment?.({
        lastPosition: m.lastPosition,
        coveredUntilMicros: BigInt(m.coveredUntilMicros),
        transactions: m.transactions,
      });
    };
    const due = (seg: OpenSegment): boolean =>
      !seg.inTransaction &&
      (seg.bytes >= opts.segmentBytes || Date.now() - seg.openedAt >= opts.segmentSeconds * 1000);

    for await (const item of changeLog) {
      if (isHeartbeat(item)) {
        if (driver.comparePositions(item.position, position) < 0) continue;
        // No commit for a whole segment period (marker commits failing, e.g. a read-only role):
        // an empty segment still moves the acknowledged position, so the server can drop WAL.
        if (!segment && Date.now() - lastCommitAt >= opts.segmentSeconds * 1000) {
          segment = new OpenSegment(repo, identity(opts), position, lock.signal);
        }
        if (segment) {
          segment.advance(item.position, driver.comparePositions);
          position = segment.lastPosition;
          if (due(segment)) await commit();
        }
        continue;
      }
      // Writes stop only when the lock is lost: on SIGINT/SIGTERM the open segment is still flushed.
      segment ??= new OpenSegment(repo, identity(opts), position, lock.signal);
      await segment.add(item);
      if (!item.more) {
        transactions++;
        position = item.position;
        if (due(segment)) await commit();
      }
    }
    // Iteration ended: SIGINT/SIGTERM (flush what is complete) or a lost lock (error below).
    if (stop.signal.reason instanceof AbortError) throw stop.signal.reason;
    if (segment && !segment.inTransaction) await commit();
    last = position;
    log.done();
    log.info(
      'stream.stop',
      `Stream of ${opts.name} stopped after ${segments} segments; everything stored is acknowledged.`,
    );
    return { segments, transactions, lastPosition: last };
  } catch (err) {
    const open = segment;
    segment = undefined;
    await open?.discard(err);
    throw err;
  } finally {
    // An incomplete multi-part transaction is never committed; the source re-sends it next run.
    if (segment) await segment.discard(new AbortError('stream stopped inside a transaction'));
    opts.signal.removeEventListener('abort', userStop);
    await changeLog?.close().catch(() => {});
    await source?.close().catch(() => {});
    await releaseLock(lock, log);
  }
}

function identity(opts: StreamJobOptions): { source: string; driver: string; driverFormatVersion: number } {
  return { source: opts.name, driver: opts.driver.kind, driverFormatVersion: opts.driver.formatVersion };
}
