/**
 * The core orders log positions only through the driver's comparePositions. A fake driver whose
 * positions are unpadded decimals ("9" < "10" < "100", the other way round as strings) proves that
 * list, forget and restore put segments in the driver's order: with string order, the chain from
 * the snapshot at "9" would break at "999" < "9"... and forget would keep or drop the wrong ones.
 */
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../../src/driver/source-driver.js';
import { forget } from '../../../src/repository/index.js';
import type { Repository } from '../../../src/repository/repository-api.js';
import { SEGMENT_MAGIC, encodeTransaction } from '../../../src/repository/segment-codec.js';
import { restore } from '../../../src/restore/restore.js';
import { listSources, repositoryPositionOrder } from '../../../src/restore/sources.js';
import { memoryLogger } from '../../../src/util/log.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { newRepo } from '../repository/helpers.js';

const S = 1_000_000n; // µs in a second
const T0 = 1_767_225_600n * S; // 2026-01-01T00:00:00Z

/** Transactions at these positions, one second apart from `firstSecond` on. */
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

async function commitSnapshot(repo: Repository, position: string, second: number): Promise<string> {
  const empty = await repo.writeStream((async function* () {})());
  const micros = T0 + BigInt(second) * S;
  return repo.commitSnapshot({
    source: 'crm',
    driver: 'fake',
    driverFormatVersion: 1,
    tags: [],
    position,
    consistentAt: new Date(Number(micros / 1000n)).toISOString(),
    consistentAtMicros: String(micros),
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    schemaFormat: 'fake',
    schema: empty,
    streams: [{ name: 't', table: 't', format: 'fake', data: empty }],
    meta: {},
    sourceUrl: 'fake://crm',
  });
}

/**
 * Snapshot at position 9 (second 0); segments 9→[10..99] (seconds 10–13), 99→[100..999]
 * (20–23), 999→[1000..1500] (30–32), stored newest first so storage order is no help either.
 */
async function repoWithLog(): Promise<Repository> {
  const { repo } = await newRepo();
  await commitSnapshot(repo, '9', 0);
  await commitSegment(repo, '999', txs([1000, 1200, 1500], 30));
  await commitSegment(repo, '99', txs([100, 250, 700, 999], 20));
  await commitSegment(repo, '9', txs([10, 11, 50, 99], 10));
  return repo;
}

describe('positions are ordered by the driver, never as strings', () => {
  it('list: the restorable window runs through all three segments', async () => {
    const repo = await repoWithLog();
    const [listing] = await listSources(repo, undefined, onlyDriver(fakeDriver()));
    expect(listing!.restorable).toEqual([
      { from: '2026-01-01T00:00:00.000000Z', to: '2026-01-01T00:00:31.999999Z' },
    ]);
    await repo.close();
  });

  it('restore --at: replays the transactions of every segment in position order, up to the instant', async () => {
    const repo = await repoWithLog();
    const target = fakeTarget();
    const summary = await restore({
      repo,
      targetUrl: 'fake://restored',
      target: { kind: 'time', micros: T0 + 30n * S },
      jobs: 1,
      log: memoryLogger(),
      drivers: onlyDriver(fakeDriver(target)),
    });
    expect(target.applied.map((t) => t.position)).toEqual(['10', '11', '50', '99', '100', '250', '700', '999', '1000']);
    expect(summary.lastApplied?.position).toBe('1000');
    await repo.close();
  });

  it('forget: removes exactly the segments wholly inside the oldest kept snapshot', async () => {
    const repo = await repoWithLog();
    // a newer snapshot at position 100 (second 21): keep-last 1 keeps it alone
    await commitSnapshot(repo, '100', 21);
    const result = await forget(
      repo,
      { keepLast: 1 },
      { comparePositions: await repositoryPositionOrder(repo, onlyDriver(fakeDriver())) },
    );
    // 9→[10..99] is inside the snapshot at 100; 99→[100..999] is not (it holds 250..999); nor 999→…
    expect(result.removedSegments.map((s) => s.lastPosition)).toEqual(['99']);
    expect(result.keptSegments).toBe(2);
    expect(result.removed.map((r) => r.snapshot.position)).toEqual(['9']);
    await repo.close();
  });
});

describe('the driver format a manifest was written in', () => {
  it('is refused when it is newer than the installed driver reads, naming both versions', async () => {
    const repo = await repoWithLog();
    const err = await restore({
      repo,
      targetUrl: 'fake://restored',
      target: { kind: 'latest' },
      jobs: 1,
      log: memoryLogger(),
      drivers: onlyDriver({ ...fakeDriver(), formatVersion: 0 }),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^Snapshot [0-9a-f]{12} was written in fake driver format 1; this crm-backup reads format 0 and older \(upgrade crm-backup to restore it\)\.$/,
    );
    await repo.close();
  });
});
