/**
 * The reconnect loop every change log runs its sessions in. Sessions here are scripted fakes that
 * fail on purpose (fault injection): a lost connection, a refused connect, an error a new session
 * would only repeat, a server that never answers.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { reconnecting, type ReconnectOptions, type SessionSource } from '../../../src/driver/reconnect.js';
import type { ChangeLogStatus } from '../../../src/driver/source-driver.js';

const coded = (code: string, message: string): Error => Object.assign(new Error(message), { code });
const reset = (): Error => coded('ECONNRESET', 'read ECONNRESET');
const refused = (): Error => coded('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');

interface Script {
  /** open() rejects with this */
  readonly refuse?: unknown;
  /** items the session delivers, each one counting as "received" */
  readonly items?: readonly string[];
  /** then the session is lost with this; */
  readonly lose?: unknown;
  /** or it ends without an error (the server closed it); without either, it waits until closed */
  readonly end?: boolean;
}

interface FakeSession {
  readonly id: number;
  readonly script: Script;
  readonly closed: Promise<void>;
  close(): void;
}

class FakeSource implements SessionSource<FakeSession, string> {
  opened = 0;
  readonly closes: number[] = [];

  constructor(
    private readonly scripts: readonly Script[],
    private readonly connecting: () => Promise<void> = async () => {},
  ) {}

  async open(): Promise<FakeSession> {
    const script = this.scripts[this.opened++] ?? {};
    await this.connecting();
    if (script.refuse) throw script.refuse;
    let close = (): void => {};
    const closed = new Promise<void>((r) => (close = r));
    return { id: this.opened, script, closed, close };
  }

  async *read(session: FakeSession, received: () => void): AsyncGenerator<string> {
    for (const item of session.script.items ?? []) {
      received();
      yield item;
    }
    if (session.script.lose) throw session.script.lose;
    if (session.script.end) return;
    await session.closed; // a server that sends nothing until the connection goes
  }

  async close(session: FakeSession): Promise<void> {
    this.closes.push(session.id);
    session.close();
  }

  retryable(err: unknown): boolean {
    return /^E[A-Z]+$/.test(String((err as { code?: unknown }).code));
  }

  fatal(err: unknown): Error {
    return new Error(`Fake at db gave up: ${(err as Error).message}.`);
  }
}

function options(
  signal: AbortSignal,
  statuses: ChangeLogStatus[],
  over: Partial<ReconnectOptions> = {},
): ReconnectOptions {
  return {
    signal,
    what: 'Replication from db',
    onStatus: (s) => statuses.push(s),
    resumesFrom: () => 'P',
    backoff: { firstMs: 5, maxMs: 1_000 },
    ...over,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('reconnecting', () => {
  it('reconnects after a lost session, backing off longer while connects fail and from the start once a session delivered', async () => {
    const source = new FakeSource([
      { items: ['a', 'b'], lose: reset() },
      { refuse: refused() },
      { refuse: refused() },
      { items: ['c'], lose: reset() },
      { items: ['d'] },
    ]);
    const abort = new AbortController();
    const statuses: ChangeLogStatus[] = [];
    const items: string[] = [];
    for await (const item of reconnecting(source, options(abort.signal, statuses))) {
      items.push(item);
      if (item === 'd') abort.abort();
    }
    expect(items).toEqual(['a', 'b', 'c', 'd']);
    expect(statuses.map((s) => s.message ?? s.event)).toEqual([
      'connected',
      'Replication from db interrupted (read ECONNRESET); reconnecting in 0.005 s.',
      'Replication from db interrupted (connect ECONNREFUSED 127.0.0.1:5432); reconnecting in 0.01 s.',
      'Replication from db interrupted (connect ECONNREFUSED 127.0.0.1:5432); reconnecting in 0.02 s.',
      'connected',
      'Replication from db interrupted (read ECONNRESET); reconnecting in 0.005 s.',
      'connected',
    ]);
    expect(statuses.filter((s) => s.event === 'connected').every((s) => s.received === 'P')).toBe(true);
    // every session that opened was closed (the last twice: by the signal, then by the loop)
    expect(source.closes).toEqual([1, 4, 5, 5]);
  });

  it('treats a session that ends without an error as lost', async () => {
    const source = new FakeSource([{ items: ['a'], end: true }, { items: ['b'] }]);
    const abort = new AbortController();
    const statuses: ChangeLogStatus[] = [];
    const items: string[] = [];
    for await (const item of reconnecting(source, options(abort.signal, statuses))) {
      items.push(item);
      if (item === 'b') abort.abort();
    }
    expect(items).toEqual(['a', 'b']);
    expect(statuses.map((s) => s.message ?? s.event)).toContain(
      'Replication from db interrupted (connection closed); reconnecting in 0.005 s.',
    );
  });

  it('gives up on an error a new session would repeat, with the sentence the driver gives it', async () => {
    const source = new FakeSource([
      { items: ['a'], lose: coded('42704', 'replication slot "x" does not exist') },
    ]);
    const statuses: ChangeLogStatus[] = [];
    const items: string[] = [];
    const run = async (): Promise<void> => {
      for await (const item of reconnecting(source, options(new AbortController().signal, statuses)))
        items.push(item);
    };
    await expect(run()).rejects.toThrow('Fake at db gave up: replication slot "x" does not exist.');
    expect(items).toEqual(['a']);
    expect(source.opened).toBe(1);
    expect(source.closes).toEqual([1]);
    expect(statuses.some((s) => s.event === 'reconnecting')).toBe(false);
  });

  it.each([
    ['while it waits to retry', false],
    ['as it announces the retry', true],
  ])('ends at once when the signal fires %s, leaving no timer behind', async (_, inAnnouncement) => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const source = new FakeSource([{ lose: reset() }]);
    const abort = new AbortController();
    const statuses: ChangeLogStatus[] = [];
    let announced = (): void => {};
    const announcement = new Promise<void>((r) => (announced = r));
    const opts = options(abort.signal, statuses, {
      backoff: { firstMs: 600_000, maxMs: 600_000 }, // ten minutes, and the clock never moves by itself
      onStatus: (s) => {
        statuses.push(s);
        if (s.event !== 'reconnecting') return;
        if (inAnnouncement) abort.abort();
        announced();
      },
    });
    let ended = false;
    const run = (async () => {
      for await (const _item of reconnecting(source, opts));
      ended = true;
    })();
    await announcement;
    abort.abort();
    await vi.advanceTimersByTimeAsync(1);
    expect(ended).toBe(true);
    await run;
    expect(source.opened).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('closes the session when the signal fires while it waits for the server', async () => {
    const source = new FakeSource([{ items: ['a'] }]);
    const abort = new AbortController();
    const statuses: ChangeLogStatus[] = [];
    const items: string[] = [];
    for await (const item of reconnecting(source, options(abort.signal, statuses))) {
      items.push(item);
      abort.abort(); // the session then waits for a server that sends nothing more
    }
    expect(items).toEqual(['a']);
    expect(source.closes).toEqual([1, 1]); // by the signal, which ended the read, then by the loop
    expect(source.opened).toBe(1);
    expect(statuses.some((s) => s.event === 'reconnecting')).toBe(false);
  });

  it('closes a session that finished connecting after the signal fired, and reads nothing from it', async () => {
    const abort = new AbortController();
    const source = new FakeSource([{ items: ['a'] }], async () => {
      abort.abort(); // SIGINT while the connect is in flight
    });
    const statuses: ChangeLogStatus[] = [];
    const items: string[] = [];
    for await (const item of reconnecting(source, options(abort.signal, statuses))) items.push(item);
    expect(items).toEqual([]);
    expect(source.closes).toEqual([1]);
    expect(statuses).toEqual([]);
  });

  it('closes the session when the consumer stops early', async () => {
    const source = new FakeSource([{ items: ['a', 'b'] }]);
    const items: string[] = [];
    for await (const item of reconnecting(source, options(new AbortController().signal, []))) {
      items.push(item);
      break;
    }
    expect(items).toEqual(['a']);
    expect(source.closes).toEqual([1]);
  });
});
