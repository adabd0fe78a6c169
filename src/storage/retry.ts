/**
 * Exponential backoff with full jitter for non-permanent StorageErrors. Shared by
 * RetryBackend (whole operations) and the S3 backend (single parts it holds in memory).
 */
import { AbortError, StorageError, throwIfAborted } from '../util/errors.js';

export interface RetryPolicy {
  /** Total tries including the first; 1 turns retrying off. Default 5. */
  readonly attempts?: number;
  /** Upper bound of the first wait; doubles per attempt. Default 250 ms. */
  readonly baseDelayMs?: number;
  /** Cap on a single wait. Default 15 s. */
  readonly maxDelayMs?: number;
  /** Source of jitter in [0, 1); injectable so tests are deterministic. */
  readonly random?: () => number;
  /** Called before each wait, e.g. to log "retrying put of data/ab… in 800 ms". */
  readonly onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  readonly op: string;
  readonly key: string | undefined;
  /** The attempt that failed, 1-based. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: StorageError;
}

export const DEFAULT_RETRY = { attempts: 5, baseDelayMs: 250, maxDelayMs: 15_000 } as const;

/** Only StorageErrors that say so are retried; aborts, usage errors and bugs surface at once. */
export function isRetryable(e: unknown): e is StorageError {
  return e instanceof StorageError && !e.permanent;
}

export function backoffDelay(policy: RetryPolicy, failedAttempt: number): number {
  const base = policy.baseDelayMs ?? DEFAULT_RETRY.baseDelayMs;
  const max = policy.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs;
  const ceiling = Math.min(max, base * 2 ** (failedAttempt - 1));
  // Full jitter: many clients that failed together do not retry together.
  return Math.floor((policy.random ?? Math.random)() * ceiling);
}

/** Runs `fn` until it succeeds, fails permanently, runs out of attempts, or `signal` fires. */
export async function withRetry<T>(
  op: string,
  key: string | undefined,
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  fn: (attempt: number) => Promise<T>,
): Promise<T> {
  const attempts = Math.max(1, policy.attempts ?? DEFAULT_RETRY.attempts);
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn(attempt);
    } catch (e) {
      if (!isRetryable(e) || attempt >= attempts) throw e;
      const delayMs = backoffDelay(policy, attempt);
      policy.onRetry?.({ op, key, attempt, delayMs, error: e });
      await sleep(delayMs, signal);
    }
  }
}

/** setTimeout as a promise that rejects with AbortError as soon as the signal fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError('interrupted', { cause: signal.reason }));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError('interrupted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
