import { describe, expect, it } from 'vitest';
import { forEachConcurrent } from '../../../src/util/concurrency.js';

describe('forEachConcurrent', () => {
  it('stops starting work after a failure, but waits for the work in flight before throwing', async () => {
    const events: string[] = [];
    const run = forEachConcurrent([1, 2, 3, 4], 2, async (n) => {
      events.push(`start ${n}`);
      if (n === 1) throw new Error('table 1 failed');
      await new Promise((r) => setTimeout(r, 30));
      events.push(`end ${n}`);
    });
    await expect(run).rejects.toThrow('table 1 failed');
    // item 2 was running when 1 failed: it finished before the caller heard of the failure
    expect(events).toEqual(['start 1', 'start 2', 'end 2']);
  });

  it('runs at most `limit` at once and every item once', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await forEachConcurrent([...Array(10).keys()], 3, async (n) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setTimeout(r, 5));
      seen.push(n);
      running--;
    });
    expect(peak).toBe(3);
    expect(seen.sort((a, b) => a - b)).toEqual([...Array(10).keys()]);
  });
});
