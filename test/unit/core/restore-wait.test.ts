/**
 * restore --at a time after the stored log: the refusal says how far the log is stored and
 * whether a running stream (a live lock of the stream of this source) will store more, and when;
 * --wait waits for it and then restores; a time in the future is refused as such; the plan
 * message prints the instant used, in UTC.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Repository } from '../../../src/repository/repository-api.js';
import { restore, type RestoreRequest, type RestoreSummary } from '../../../src/restore/restore.js';
import { RestoreRefusedError, UsageError } from '../../../src/util/errors.js';
import { memoryLogger } from '../../../src/util/log.js';
import { formatMicros, parseTimeMicros } from '../../../src/util/time.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSegment, fakeSnapshot, S, T0, txs } from '../../helpers/fake-repo.js';
import { newRepo } from '../repository/helpers.js';

/** Snapshot at position 10 (second 0); log 10→[11, 12, 13] at seconds 10–12: complete up to 12 s − 1 µs. */
async function repoWithLog(): Promise<Repository> {
  const { repo } = await newRepo();
  await fakeSnapshot(repo, { position: 10, second: 0 });
  await fakeSegment(repo, 10, txs([11, 12, 13], 10));
  return repo;
}

type Events = ReturnType<typeof memoryLogger>['events'];

/** A restore through the core entry point with the fake driver; `onEvent` sees every log event. */
function restoreAt(
  repo: Repository,
  second: number,
  more: Partial<RestoreRequest> = {},
  onEvent?: (e: Events[number]) => void,
): { done: Promise<RestoreSummary>; applied: () => string[]; events: Events } {
  const target = fakeTarget();
  const log = memoryLogger();
  for (const level of ['info', 'warn', 'progress'] as const) {
    const inner = log[level];
    log[level] = (event, message, fields) => {
      inner(event, message, fields);
      onEvent?.({ level, event, message });
    };
  }
  const done = restore({
    repo,
    targetUrl: 'fake://restored',
    target: { kind: 'time', micros: T0 + BigInt(second) * S },
    jobs: 1,
    log,
    drivers: onlyDriver(fakeDriver(target)),
    ...more,
  });
  return { done, applied: () => target.applied.map((t) => t.position), events: log.events };
}

async function refusal(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('the restore was not refused');
    },
    (e: unknown) => e as Error,
  );
}

const covered = formatMicros(T0 + 12n * S - 1n);
const wanted = formatMicros(T0 + 30n * S);

describe('restore --at after the stored log', () => {
  it('without a running stream: says how far the log is stored and that no stream runs', async () => {
    const repo = await repoWithLog();
    const err = await refusal(restoreAt(repo, 30).done);
    expect(err).toBeInstanceOf(RestoreRefusedError);
    expect(err.message).toBe(
      `The change log of crm is complete only up to ${covered}; ${wanted} is later, and no stream of crm is running: start "crm-backup stream" and restore once it has stored a segment, or restore an earlier time.`,
    );
    await repo.close();
  });

  it('while the stream runs: says so, how often it stores a segment and when the next is due', async () => {
    const repo = await repoWithLog();
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: 'crm', segmentSeconds: 60 },
    });
    const newest = (await repo.listSegments('crm')).at(-1)!;
    const due = new Date(Date.parse(newest.createdAt) + 60_000).toISOString();
    const err = await refusal(restoreAt(repo, 30).done);
    expect(err.message).toBe(
      `The change log of crm is complete only up to ${covered}; ${wanted} is later, and the stream of crm running on ${hostname()} (pid ${process.pid}) stores a segment about every 60 s (the next is due by about ${due}): restore again then, or add --wait to wait for it.`,
    );
    // a snapshot newer than the whole log: the same, not "run stream before taking snapshots"
    await fakeSnapshot(repo, { position: 20, second: 20 });
    expect((await refusal(restoreAt(repo, 30).done)).message).toContain(
      `The change log of crm is complete only up to ${covered}; ${wanted} is later, and the stream of crm running on`,
    );
    await lock.release();
    await repo.close();
  });

  it('a stream of another source, or a stream of an older version, is told apart', async () => {
    const repo = await repoWithLog();
    const other = await repo.lock('shared', {
      purpose: 'stream of crm-eu',
      stream: { source: 'crm-eu', segmentSeconds: 60 },
    });
    expect((await refusal(restoreAt(repo, 30).done)).message).toContain('and no stream of crm is running');
    const old = await repo.lock('shared', { purpose: 'stream of crm' });
    expect((await refusal(restoreAt(repo, 30).done)).message).toContain(
      `running on ${hostname()} (pid ${process.pid}) stores a segment every --segment-seconds it was started with: restore again then`,
    );
    await other.release();
    await old.release();
    await repo.close();
  });

  it('--wait waits for the running stream to store the log up to the instant, saying what for, then restores', async () => {
    const repo = await repoWithLog();
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: 'crm', segmentSeconds: 1 },
    });
    let waiting: () => void = () => {};
    const waitingNow = new Promise<void>((r) => (waiting = r));
    const r = restoreAt(repo, 30, { wait: { pollMs: 10 } }, (e) => e.event === 'restore.wait' && waiting());
    await Promise.race([waitingNow, r.done]);
    expect(r.applied()).toEqual([]);
    expect(r.events.find((e) => e.event === 'restore.wait')?.message).toMatch(
      new RegExp(
        `^Waiting for the change log of crm to reach ${wanted.replace(/\./g, '\\.')}: it is complete only up to ${covered.replace(/\./g, '\\.')}, and the stream running on .* \\(pid ${process.pid}\\) stores a segment about every 1 s \\(the next .*\\)\\.$`,
      ),
    );
    await fakeSegment(repo, 13, txs([14, 15], 29)); // commits at 29 and 30: complete up to 30 − 1 µs
    await fakeSegment(repo, 15, txs([16], 31));
    const summary = await r.done;
    expect(r.applied()).toEqual(['11', '12', '13', '14', '15']);
    expect(summary.lastApplied?.commitTime).toBe(wanted);
    expect(r.events.map((e) => e.event)).toContain('restore.waited');
    await lock.release();
    await repo.close();
  });

  it('--wait refuses at once without a running stream, and when the stream stops while it waits', async () => {
    const repo = await repoWithLog();
    expect((await refusal(restoreAt(repo, 30, { wait: { pollMs: 10 } }).done)).message).toContain(
      'and no stream of crm is running',
    );
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: 'crm', segmentSeconds: 1 },
    });
    const r = restoreAt(repo, 30, { wait: { pollMs: 10 } }, (e) => {
      if (e.event === 'restore.wait') void lock.release();
    });
    const err = await refusal(r.done);
    expect(err.message).toBe(
      `The change log of crm is complete only up to ${covered}; ${wanted} is later, and no stream of crm is running: start "crm-backup stream" and restore once it has stored a segment, or restore an earlier time.`,
    );
    expect(r.applied()).toEqual([]);
    await repo.close();
  });

  it('--wait with a limit gives up after it, saying how far the log got', async () => {
    const repo = await repoWithLog();
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: 'crm', segmentSeconds: 60 },
    });
    const err = await refusal(restoreAt(repo, 30, { wait: { limitMs: 50, pollMs: 10 } }).done);
    expect(err).toBeInstanceOf(RestoreRefusedError);
    expect(err.message).toBe(
      `Waited 50 ms for the change log of crm to reach ${wanted}, but it is complete only up to ${covered} (see the stream's log: is it keeping up?); nothing was restored.`,
    );
    await lock.release();
    await repo.close();
  });

  it('--wait goes with --at only', async () => {
    const repo = await repoWithLog();
    const err = await refusal(restoreAt(repo, 30, { target: { kind: 'latest' }, wait: {} }).done);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('--wait waits for the change log to reach an --at time; use it with --at.');
    await repo.close();
  });

  it('refuses a time in the future as such (exit 2), even with --wait', async () => {
    const repo = await repoWithLog();
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: 'crm', segmentSeconds: 1 },
    });
    const future = BigInt(Date.now() + 3_600_000) * 1000n;
    const err = await refusal(
      restoreAt(repo, 0, { target: { kind: 'time', micros: future }, wait: { pollMs: 10 } }).done,
    );
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toMatch(
      new RegExp(
        `^The change log of crm is complete only up to ${covered.replace(/\./g, '\\.')}; ${formatMicros(future).replace(/\./g, '\\.')} is later, and in the future by this machine's clock \\(it reads 20\\d\\d-[^)]*Z\\): a restore can only reach commits that have happened\\.$`,
      ),
    );
    await lock.release();
    await repo.close();
  });

  it('the plan message names the instant used, normalised to UTC', async () => {
    const repo = await repoWithLog();
    const r = restoreAt(repo, 0, {
      target: { kind: 'time', micros: parseTimeMicros('2026-01-01T01:00:11.5+01:00') },
    });
    await r.done;
    expect(r.events.find((e) => e.event === 'restore.plan')?.message).toMatch(
      /^Restoring snapshot [0-9a-f]{12} \(2026-01-01T00:00:00\.000000Z\) and 1 log segments up to 2026-01-01T00:00:11\.500000Z\.$/,
    );
    expect(r.applied()).toEqual(['11', '12']);
    await repo.close();
  });
});
