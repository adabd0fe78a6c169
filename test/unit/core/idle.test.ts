/**
 * Idle markers: a marker transaction is committed on the source only while nothing else commits,
 * so an idle database keeps proving time coverage and a busy one gets no extra writes. The clock
 * is faked: the test moves it, nothing waits for real time.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_HEARTBEAT_MS, heartbeatPollMs, IdleMarkers } from '../../../src/driver/idle.js';

const MARKER_MS = 1_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A source whose marker commits show up in the log like any commit, as a real one's do. */
function source(result: () => Promise<boolean> = async () => true) {
  const emitted: number[] = [];
  const markers: IdleMarkers = new IdleMarkers({
    markerMs: MARKER_MS,
    emit: async () => {
      emitted.push(Date.now());
      return result();
    },
  });
  return { markers, emitted };
}

describe('IdleMarkers', () => {
  it('commits no marker while transactions keep committing, and one once the source is idle', async () => {
    const { markers, emitted } = source();
    const start = Date.now();
    for (let t = 0; t < 10_000; t += 400) {
      markers.committed(); // a commit every 0.4 s: never idle for a whole second
      await vi.advanceTimersByTimeAsync(400);
    }
    expect(emitted).toEqual([]);
    await vi.advanceTimersByTimeAsync(1_500); // idle from here on
    expect(emitted).toHaveLength(1);
    const idleSince = start + 10_000;
    expect(emitted[0]! - idleSince).toBeGreaterThanOrEqual(MARKER_MS);
    expect(emitted[0]! - idleSince).toBeLessThanOrEqual(MARKER_MS * 1.5);
    markers.stop();
  });

  it('keeps committing one marker per interval while idle, and none after stop()', async () => {
    const { markers, emitted } = source();
    await vi.advanceTimersByTimeAsync(10_000);
    // each marker is itself a commit: the next one comes an interval after it, not every tick
    expect(emitted.length).toBeGreaterThanOrEqual(6);
    expect(emitted.length).toBeLessThanOrEqual(10);
    for (let i = 1; i < emitted.length; i++)
      expect(emitted[i]! - emitted[i - 1]!).toBeGreaterThanOrEqual(MARKER_MS);
    markers.stop();
    const before = emitted.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(emitted).toHaveLength(before);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tries again at the next tick when a marker could not be committed', async () => {
    let up = false;
    const { markers, emitted } = source(async () => {
      if (!up) throw new Error('connection lost');
      return true;
    });
    await vi.advanceTimersByTimeAsync(2_000);
    const failed = emitted.length;
    expect(failed).toBeGreaterThanOrEqual(2); // every tick once idle, not once per interval
    up = true;
    await vi.advanceTimersByTimeAsync(500);
    expect(emitted).toHaveLength(failed + 1);
    await vi.advanceTimersByTimeAsync(500);
    expect(emitted).toHaveLength(failed + 1); // committed: idle again only an interval later
    markers.stop();
  });

  it('commits one marker at a time when the source is slow to answer', async () => {
    let finish = (_: boolean): void => {};
    const { markers, emitted } = source(() => new Promise<boolean>((r) => (finish = r)));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(emitted).toHaveLength(1);
    finish(true);
    await vi.advanceTimersByTimeAsync(MARKER_MS * 1.5);
    expect(emitted).toHaveLength(2);
    markers.stop();
  });
});

describe('heartbeatPollMs', () => {
  it('asks for a sign of life every half heartbeat, with a floor', () => {
    expect(heartbeatPollMs({})).toBe(DEFAULT_HEARTBEAT_MS / 2);
    expect(heartbeatPollMs({ heartbeatMs: 200 })).toBe(100);
    expect(heartbeatPollMs({ heartbeatMs: 1 })).toBe(10);
  });
});
