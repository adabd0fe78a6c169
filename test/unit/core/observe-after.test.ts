/**
 * TargetDriver.observeAfter: a driver may read, never apply, the stored log past the instant of a
 * point-in-time restore (PostgreSQL bounds its sequences by a record sampled after it). The core
 * hands it the transactions after the last one applied, through segments the plan did not need,
 * until it says enough, the log ends or a gap comes; and logs what finish() says may differ.
 */
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../../src/driver/source-driver.js';
import type { Repository } from '../../../src/repository/repository-api.js';
import { SEGMENT_MAGIC, encodeTransaction } from '../../../src/repository/segment-codec.js';
import { restore } from '../../../src/restore/restore.js';
import { memoryLogger } from '../../../src/util/log.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { newRepo } from '../repository/helpers.js';

const S = 1_000_000n;
const T0 = 1_767_225_600n * S; // 2026-01-01T00:00:00Z

function txs(positions: number[], firstSecond: number): Transaction[] {
  return positions.map((p, i) => ({
    position: String(p),
    commitTime: T0 + BigInt(firstSecond + i) * S,
    payload: Buffer.from(`tx ${p}`),
    changes: 1,
    tables: ['t'],
  }));
}

async function commitSegment(repo: Repository, from: string, log: Transaction[]): Promise<void> {
  const data = await repo.writeStream(
    (async function* () {
      yield SEGMENT_MAGIC;
      for (const t of log) yield encodeTransaction(t);
    })(),
  );
  const last = log.at(-1)!;
  await repo.commitSegment({
    source: 'crm',
    driver: 'fake',
    driverFormatVersion: 1,
    fromPosition: from,
    firstPosition: log[0]!.position,
    lastPosition: last.position,
    firstCommitMicros: String(log[0]!.commitTime),
    lastCommitMicros: String(last.commitTime),
    coveredUntilMicros: String(last.commitTime - 1n),
    transactions: log.length,
    changes: log.length,
    tables: ['t'],
    data,
    createdAt: new Date().toISOString(),
  });
}

async function commitSnapshot(repo: Repository, position: string): Promise<void> {
  const empty = await repo.writeStream((async function* () {})());
  await repo.commitSnapshot({
    source: 'crm',
    driver: 'fake',
    driverFormatVersion: 1,
    tags: [],
    position,
    consistentAt: new Date(Number(T0 / 1000n)).toISOString(),
    consistentAtMicros: String(T0),
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    schemaFormat: 'fake',
    schema: empty,
    streams: [{ name: 't', table: 't', format: 'fake', data: empty }],
    meta: {},
    sourceUrl: 'fake://crm',
  });
}

/** Snapshot at 9; segments 9→[10, 11, 50, 99] (seconds 10–13), 99→[100, 250] (20–21), then `third`. */
async function repoWithLog(third: { from: string; positions: number[] }): Promise<Repository> {
  const { repo } = await newRepo();
  await commitSnapshot(repo, '9');
  await commitSegment(repo, '9', txs([10, 11, 50, 99], 10));
  await commitSegment(repo, '99', txs([100, 250], 20));
  await commitSegment(repo, third.from, txs(third.positions, 30));
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
