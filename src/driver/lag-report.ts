/**
 * Progress of a change log for the stream job's display and logs. A busy source commits thousands
 * of transactions a second, so commits are reported at most once per `everyMs`; catching up (an
 * idle heartbeat) is reported every time, since it is what tells the user the log is current.
 * A driver provides the position it received and the lag by the server's clock (now minus the
 * commit time, both as the server tells them).
 */
import type { ChangeLogStatus, Position } from './source-driver.js';

export const LAG_REPORT_MS = 1_000;

export class LagReporter {
  private lastReport = 0;

  constructor(
    private readonly onStatus: ((status: ChangeLogStatus) => void) | undefined,
    private readonly everyMs = LAG_REPORT_MS,
  ) {}

  /** A transaction up to `received` was yielded, committed `lagSeconds` before the server's now. */
  committed(received: Position, lagSeconds: number): void {
    this.report(received, lagSeconds, false);
  }

  /** Everything up to `received` was yielded and nothing is pending. */
  caughtUp(received: Position): void {
    this.report(received, 0, true);
  }

  private report(received: Position, lagSeconds: number, idle: boolean): void {
    const now = Date.now();
    if (!idle && now - this.lastReport < this.everyMs) return;
    this.lastReport = now;
    this.onStatus?.({
      received,
      lagSeconds: Math.max(0, lagSeconds),
      ...(idle ? { event: 'caught-up' as const } : {}),
    });
  }
}
