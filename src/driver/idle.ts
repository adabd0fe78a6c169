/**
 * What a change log does while its source is idle, for every database. Two claims need fresh
 * evidence when nothing commits:
 * - position coverage (Heartbeat): the driver asks the server for a sign of life at least every
 *   `heartbeatPollMs(opts)` while nothing arrives, so heartbeats come every `heartbeatMs`;
 * - time coverage, which only commit times prove: `IdleMarkers` commits a small marker
 *   transaction on the source whenever nothing has committed for `markerMs`, so the log keeps
 *   proving that a restore up to "now" is complete.
 */
import type { StreamOptions } from './source-driver.js';

export const DEFAULT_HEARTBEAT_MS = 1_000;
export const DEFAULT_MARKER_MS = 5_000;
/** Floors that keep a tiny setting (as in tests) from turning into a busy loop. */
const MIN_POLL_MS = 10;
const MIN_MARKER_TICK_MS = 50;

/** How long to wait for the server before asking it for a sign of life (half a heartbeat). */
export function heartbeatPollMs(opts: StreamOptions): number {
  return Math.max(MIN_POLL_MS, Math.floor((opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS) / 2));
}

export interface IdleMarkerOptions {
  /** Default DEFAULT_MARKER_MS (`StreamOptions.markerMs`). */
  readonly markerMs?: number;
  /**
   * Commits one marker transaction that the change log will deliver like any other (PostgreSQL: a
   * transactional logical message). Resolves false when it could not now (no connection, the log
   * is closing); a rejection counts the same. Either way the next tick tries again.
   */
  readonly emit: () => Promise<boolean>;
}

/**
 * Commits a marker while the source has been idle for `markerMs`, one at a time. The driver calls
 * `committed()` for every commit it sees in the log (markers included), and `stop()` when the
 * log ends.
 */
export class IdleMarkers {
  private lastCommitAt = Date.now();
  private inFlight = false;
  private readonly markerMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: IdleMarkerOptions) {
    this.markerMs = opts.markerMs ?? DEFAULT_MARKER_MS;
    // ticking at half the interval keeps the longest idle stretch under 1.5 × markerMs
    this.timer = setInterval(
      () => void this.tick(),
      Math.max(MIN_MARKER_TICK_MS, Math.floor(this.markerMs / 2)),
    );
    this.timer.unref();
  }

  /** A transaction committed on the source (seen in the log): the source is not idle. */
  committed(): void {
    this.lastCommitAt = Date.now();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async tick(): Promise<void> {
    if (this.inFlight || Date.now() - this.lastCommitAt < this.markerMs) return;
    this.inFlight = true;
    try {
      if (await this.opts.emit()) this.lastCommitAt = Date.now();
    } catch {
      // counted as "could not now": the next tick tries again
    } finally {
      this.inFlight = false;
    }
  }
}
