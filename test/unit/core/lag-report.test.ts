/**
 * Lag reporting: a busy source must not flood the stream job with a status per commit, and
 * catching up must always be told (it is how a user sees the log is current).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LagReporter } from '../../../src/driver/lag-report.js';
import type { ChangeLogStatus } from '../../../src/driver/source-driver.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('LagReporter', () => {
  it('reports commits at most once a second, and every catch-up', () => {
    const seen: ChangeLogStatus[] = [];
    const lag = new LagReporter((s) => seen.push(s));
    for (let i = 0; i < 1_000; i++) {
      lag.committed(`p${i}`, 2.5);
      vi.advanceTimersByTime(1); // a thousand commits in one second
    }
    expect(seen).toEqual([{ received: 'p0', lagSeconds: 2.5 }]);
    lag.committed('p1000', -0.1);
    expect(seen.at(-1)).toEqual({ received: 'p1000', lagSeconds: 0 });
    lag.caughtUp('p1000');
    lag.caughtUp('p1001');
    expect(seen.slice(-2)).toEqual([
      { received: 'p1000', lagSeconds: 0, event: 'caught-up' },
      { received: 'p1001', lagSeconds: 0, event: 'caught-up' },
    ]);
  });
});
