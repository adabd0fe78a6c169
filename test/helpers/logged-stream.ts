/**
 * A stream job in this process whose log the test reads: what the stream says (its one-line
 * reports of changes to the source), and waits for coverage of a time. The one in-process stream
 * helper of the suite (`startStream` in pitr.ts is this).
 */
import { runStream, type StreamResult } from '../../src/backup/stream-job.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import type { Repository } from '../../src/repository/repository-api.js';
import { memoryLogger } from '../../src/util/log.js';

export interface LoggedStream {
  readonly log: ReturnType<typeof memoryLogger>;
  /** Resolves once the stream has started (its slot and publication exist), rejects if it ended first. */
  readonly started: Promise<void>;
  /** The messages of the stream's reports about the source (`stream.source`), so far. */
  sourceLines(): string[];
  /** Resolves once a stored segment proves the log complete up to `micros`. */
  waitCovered(micros: bigint, timeoutMs?: number): Promise<void>;
  /** Resolves once the stream has reported a line matching `re` about the source. */
  waitLine(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<StreamResult>;
  /** Settles when the stream job ends: its result, or the error that stopped it. */
  readonly done: Promise<StreamResult>;
}

export function loggedStream(
  repo: Repository,
  driver: DriverModule,
  url: string,
  name: string,
  segmentSeconds = 1,
): LoggedStream {
  const controller = new AbortController();
  const log = memoryLogger();
  let covered = -1n;
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  let markStarted: () => void = () => {};
  const started = new Promise<void>((r) => (markStarted = r));
  const info = log.info;
  log.info = (event, message, fields) => {
    info(event, message, fields);
    if (event === 'stream.start') markStarted();
  };
  const warn = log.warn;
  log.warn = (event, message, fields) => {
    warn(event, message, fields);
    wake();
  };
  const done = runStream({
    repo,
    driver,
    sourceUrl: url,
    name,
    segmentBytes: 4 * 1024 * 1024,
    segmentSeconds,
    heartbeatMs: 200,
    markerMs: 300,
    log,
    signal: controller.signal,
    onSegment: ({ coveredUntilMicros }) => {
      if (coveredUntilMicros > covered) covered = coveredUntilMicros;
      wake();
    },
  });
  let ended = false;
  void done.then(
    () => (ended = true),
    () => (ended = true),
  );
  done.finally(wake).catch(() => {});
  const until = <T>(probe: () => T | undefined, what: string, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const check = (): void => {
        const v = probe();
        if (v !== undefined) finish(() => resolve(v));
        else if (ended)
          finish(() =>
            reject(
              new Error(`the stream ended before ${what}: ${log.events.map((e) => e.message).join(' | ')}`),
            ),
          );
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new Error(`no ${what} within ${timeoutMs} ms: ${log.events.map((e) => e.message).join(' | ')}`),
            ),
          ),
        timeoutMs,
      );
      const finish = (fn: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        fn();
      };
      waiters.add(check);
      check();
    });
  const sourceLines = (): string[] =>
    log.events.filter((e) => e.event === 'stream.source').map((e) => e.message);
  return {
    log,
    done,
    started: Promise.race([
      started,
      done.then(() => Promise.reject(new Error('the stream ended before it started'))),
    ]),
    sourceLines,
    waitCovered: (micros, timeoutMs = 60_000) =>
      until(() => (covered >= micros ? true : undefined), `coverage of ${micros}`, timeoutMs).then(() => {}),
    waitLine: (re, timeoutMs = 60_000) =>
      until(() => sourceLines().find((l) => re.test(l)), `line ${re}`, timeoutMs),
    stop: async () => {
      controller.abort();
      return done;
    },
  };
}
