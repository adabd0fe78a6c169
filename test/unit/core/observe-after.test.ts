/**
 * TargetDriver.observeAfter: a driver may read, never apply, the stored log past the instant of a
 * point-in-time restore (PostgreSQL bounds its sequences by a record sampled after it). The core
 * hands it the transactions after the last one applied, through segments the plan did not need,
 * until it says enough, the log ends or a gap comes; and logs what finish() says may differ.
 */
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../../src/driver/source-driver.js';
import type { Repository } from '../../../src/repository/repository-api.js';
import { restore } from '../../../src/restore/restore.js';
import { memoryLogger } from '../../../src/util/log.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSegment, fakeSnapshot, S, T0, txs } from '../../helpers/fake-repo.js';
import { newRepo } from '../repository/helpers.js';

/** Snapshot at 9; segments 9→[10, 11, 50, 99] (seconds 10–13), 99→[100, 250] (20–21), then `third`. */
async function repoWithLog(third: { from: string; positions: number[] }): Promise<Repository> {
  const { repo } = await newRepo();
  await fakeSnapshot(repo, { position: 9, second: 0 });
  await fakeSegment(repo, 9, txs([10, 11, 50, 99], 10));
  await fakeSegment(repo, 99, txs([100, 250], 20));
  await fakeSegment(repo, Number(third.from), txs(third.positions, 30));
  return repo;
}

/** Restores to second 11 with a target that observes until `enough` says so. */
async function restoreObserving(repo: Repository, enough: (tx: Transaction) => boolean) {
  const target = fakeTarget();
  const observed: Array<{ position: string; until: bigint }> = [];
  const log = memoryLogger();
  await restore({
    repo,
    targetUrl: 'fake://restored',
    target: { kind: 'time', micros: T0 + 11n * S },
    jobs: 1,
    log,
    drivers: onlyDriver(
      fakeDriver({
        ...target,
        observeAfter: async (tx, { untilMicros }) => {
          observed.push({ position: tx.position, until: untilMicros });
          return !enough(tx);
        },
        finish: async () => ['sequence s may stand behind the source'],
      }),
    ),
  });
  return { applied: target.applied.map((t) => t.position), observed, log };
}

describe('observeAfter: the stored log past the instant, read and never applied', () => {
  it('continues where the replay stopped, into segments the plan did not need, until the driver has enough', async () => {
    const repo = await repoWithLog({ from: '250', positions: [300, 400] });
    const r = await restoreObserving(repo, (tx) => tx.position === '100');
    expect(r.applied).toEqual(['10', '11']);
    expect(r.observed.map((o) => o.position)).toEqual(['50', '99', '100']);
    expect(r.observed.every((o) => o.until === T0 + 11n * S)).toBe(true);
    await repo.close();
  });

  it('stops at the end of the stored log, and at a gap', async () => {
    const whole = await repoWithLog({ from: '250', positions: [300, 400] });
    expect((await restoreObserving(whole, () => false)).observed.map((o) => o.position)).toEqual([
      '50',
      '99',
      '100',
      '250',
      '300',
      '400',
    ]);
    await whole.close();
    // the third segment continues from 260: something between 250 and 260 is missing
    const gap = await repoWithLog({ from: '260', positions: [300, 400] });
    expect((await restoreObserving(gap, () => false)).observed.map((o) => o.position)).toEqual([
      '50',
      '99',
      '100',
      '250',
    ]);
    await gap.close();
  });

  it('logs what finish() says may differ from the source as a warning', async () => {
    const repo = await repoWithLog({ from: '250', positions: [300] });
    const { log } = await restoreObserving(repo, () => true);
    expect(
      log.events.some((e) => e.level === 'warn' && e.message === 'sequence s may stand behind the source'),
    ).toBe(true);
    await repo.close();
  });
});
