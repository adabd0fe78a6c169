/**
 * Watches a running `crm-backup stream` through its JSON log lines on stderr:
 *  - `stream.lag` (lagSeconds): the driver's decoding lag, server send time minus commit time.
 *    The CLI throttles progress lines to one per 5 s when not on a terminal, so these are
 *    samples, not every report.
 *  - `stream.segment`: a segment is stored and acknowledged; its message ends with
 *    "complete up to <time>". Just before segment i lands, the newest restorable instant is the
 *    coverage of segment i-1, so (time segment i was logged − coverage of segment i-1) is the
 *    worst restorable lag of that interval: the recovery point objective the stream achieves.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseLogLine, type CrmCli } from './crm-cli.js';
import { lastLine, type Measured, type ProcResult } from './proc.js';

const COVERED = /complete up to (\d{4}-\d{2}-\d{2}T[\d:.]+Z)/;

export interface Sample {
  /** When the stream logged it, ms since the epoch. */
  readonly at: number;
  readonly value: number;
}

export interface Coverage {
  readonly at: number;
  /** ISO 8601 UTC with µs, comparable as a string with `serverNow()`. */
  readonly until: string;
}

export class StreamWatch {
  readonly lag: Sample[] = [];
  readonly coverage: Coverage[] = [];
  private started = false;
  readonly proc: Measured;

  constructor(cli: CrmCli, source: string, segmentSeconds: number) {
    this.proc = cli.spawn(['stream', '--source', source, '--segment-seconds', String(segmentSeconds)], {
      onStderrLine: (line) => this.onLine(line),
    });
  }

  private onLine(line: string): void {
    const e = parseLogLine(line);
    if (!e) return;
    const at = Date.parse(e.time);
    if (e.event === 'stream.start') this.started = true;
    else if (e.event === 'stream.lag' && typeof e.lagSeconds === 'number') this.lag.push({ at, value: e.lagSeconds });
    else if (e.event === 'stream.segment') {
      const until = COVERED.exec(e.message)?.[1];
      if (until) this.coverage.push({ at, until });
    }
  }

  private exitedEarly(): Error | undefined {
    const c = this.proc.child;
    if (c.exitCode === null && c.signalCode === null) return undefined;
    return new Error(`the stream exited (${c.exitCode ?? c.signalCode}): ${lastLine(this.proc.stderr())}`);
  }

  async waitStarted(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.started) {
      const early = this.exitedEarly();
      if (early) throw early;
      if (Date.now() > deadline) throw new Error(`the stream did not log stream.start within ${timeoutMs / 1000} s`);
      await sleep(100);
    }
  }

  /** Time (ms since epoch) the first stored segment covered `time`, or undefined. */
  coveredAt(time: string): number | undefined {
    return this.coverage.find((c) => c.until >= time)?.at;
  }

  /** Waits until a stored segment covers `time`; returns when that happened (ms since epoch). */
  async waitCovered(time: string, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.coveredAt(time);
      if (at !== undefined) return at;
      const early = this.exitedEarly();
      if (early) throw early;
      if (Date.now() > deadline) throw new Error(`no stored segment covered ${time} within ${timeoutMs / 1000} s`);
      await sleep(100);
    }
  }

  /** Largest reported decoding lag logged in [from, to] (ms since epoch). */
  maxLag(from: number, to: number): number | undefined {
    return max(this.lag.filter((s) => s.at >= from && s.at <= to).map((s) => s.value));
  }

  /** Largest restorable lag (see the file comment) between segments covering instants in [from, to]. */
  maxRestorableLag(from: number, to: number): number | undefined {
    const lags: number[] = [];
    for (let i = 1; i < this.coverage.length; i++) {
      const prev = this.coverage[i - 1]!;
      const cur = this.coverage[i]!;
      // both ends inside the window: an idle spell before it (no commits, so no coverage) is not lag
      if (Date.parse(prev.until) >= from && cur.at <= to) lags.push((cur.at - Date.parse(prev.until)) / 1000);
    }
    return max(lags);
  }

  /** SIGINT = flush, acknowledge, exit 0 (the CLI contract); SIGKILL if it hangs. */
  async stop(timeoutMs = 60_000): Promise<ProcResult> {
    const c = this.proc.child;
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
    const timer = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    try {
      return await this.proc.done;
    } finally {
      clearTimeout(timer);
    }
  }
}

function max(values: readonly number[]): number | undefined {
  return values.length ? Math.max(...values) : undefined;
}
