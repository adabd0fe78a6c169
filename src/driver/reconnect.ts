/**
 * Reconnecting change-log sessions. A replication connection, a binlog dump or a change stream is
 * lost now and then (a server restart, a failover, a network drop), and the change log must carry
 * on from where it was without the stream job noticing more than a status line. What is the same
 * for every database lives here: open a session, pass its items on, and when it ends decide
 * between another try (with exponential backoff, reset as soon as a session delivered anything)
 * and giving up; report `connected` and `reconnecting`; and end promptly when the signal fires,
 * whether a session is waiting for the server or the loop is waiting to retry.
 *
 * A driver provides a `SessionSource`: how to open a session at the position it resumes from,
 * the items one session delivers, how to close one, which errors a new session may not repeat,
 * and the sentence to throw for the others.
 */
import type { ChangeLogStatus, Position } from './source-driver.js';

/** Wait before the first retry; doubled after every session that delivered nothing. */
export const BACKOFF_FIRST_MS = 1_000;
export const BACKOFF_MAX_MS = 30_000;

export interface SessionSource<S, T> {
  /** Opens one session, positioned after what was acknowledged (or yielded) so far. */
  open(): Promise<S>;
  /**
   * The items one session delivers, in order. Throws when the session is lost; returning while
   * the loop is not stopped counts as a loss without an error. Calls `received()` whenever the
   * server sent anything at all (a keepalive counts), which resets the backoff.
   */
  read(session: S, received: () => void): AsyncIterable<T>;
  /**
   * Releases a session. Called once the session's items end, and also when the signal fires, to
   * end a read that is waiting for the server; so it must be safe to call twice.
   */
  close(session: S): Promise<void>;
  /** True for errors a new session may not repeat: a lost connection, a server (re)starting. */
  retryable(err: unknown): boolean;
  /** The error to throw for one that is not retryable: one sentence naming the source. */
  fatal(err: unknown): Error;
}

export interface ReconnectOptions {
  readonly signal?: AbortSignal;
  /** Ends the loop like the signal does (the change log was closed). */
  readonly stopped?: () => boolean;
  readonly onStatus?: (status: ChangeLogStatus) => void;
  /** Opens the `reconnecting` sentence, e.g. `Replication from postgres://db/crm`. */
  readonly what: string;
  /** The position a new session continues from, reported with `connected`. */
  readonly resumesFrom?: () => Position;
  readonly backoff?: { readonly firstMs: number; readonly maxMs: number };
}

/** An error's first line without its final period, to quote inside a sentence of ours. */
export function firstLine(err: unknown): string {
  return ((err as Error)?.message ?? String(err)).split('\n')[0]?.replace(/\.$/, '') ?? 'unknown error';
}

/** Resolves after `ms`, or as soon as the signal fires (the caller then sees it is stopped). */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(); // 'abort' does not fire again for a listener added late
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Items of one session after another until the signal fires or `stopped()` holds (then it
 * returns), or a session ends with an error that is not retryable (then it throws `fatal(err)`).
 * Breaking out of the iteration closes the current session.
 */
export async function* reconnecting<S, T>(
  source: SessionSource<S, T>,
  opts: ReconnectOptions,
): AsyncGenerator<T> {
  const firstMs = opts.backoff?.firstMs ?? BACKOFF_FIRST_MS;
  const maxMs = opts.backoff?.maxMs ?? BACKOFF_MAX_MS;
  const stopped = (): boolean => opts.signal?.aborted === true || opts.stopped?.() === true;
  let current: S | undefined;
  const onAbort = (): void => {
    if (current !== undefined) void source.close(current);
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let failures = 0;
  try {
    while (!stopped()) {
      let error: unknown;
      let received = false;
      try {
        current = await source.open();
        // the signal fired while connecting: nothing would end a read that waits for the server
        if (stopped()) return;
        opts.onStatus?.({
          event: 'connected',
          ...(opts.resumesFrom ? { received: opts.resumesFrom() } : {}),
        });
        for await (const item of source.read(current, () => (received = true))) yield item;
      } catch (err) {
        error = err;
      } finally {
        const session = current;
        current = undefined;
        if (session !== undefined) await source.close(session);
      }
      if (stopped()) return;
      if (error !== undefined && !source.retryable(error)) throw source.fatal(error);
      failures = received ? 1 : failures + 1;
      const wait = Math.min(firstMs * 2 ** (failures - 1), maxMs);
      opts.onStatus?.({
        event: 'reconnecting',
        message: `${opts.what} interrupted (${firstLine(error ?? 'connection closed')}); reconnecting in ${wait / 1000} s.`,
      });
      await pause(wait, opts.signal);
    }
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
