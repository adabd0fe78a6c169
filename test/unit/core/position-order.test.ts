/**
 * The core orders log positions only through the driver's comparePositions. A fake driver whose
 * positions are unpadded decimals ("9" < "10" < "100", the other way round as strings) proves that
 * list, forget and restore put segments in the driver's order: with string order, the chain from
 * the snapshot at "9" would break at "999" < "9"... and forget would keep or drop the wrong ones.
 */
import { describe, expect, it } from 'vitest';
import { forget } from '../../../src/repository/index.js';
import type { Repository } from '../../../src/repository/repository-api.js';
import { restore } from '../../../src/restore/restore.js';
import { listSources, repositoryPositionOrder } from '../../../src/restore/sources.js';
import { memoryLogger } from '../../../src/util/log.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSegment, fakeSnapshot, S, T0, txs } from '../../helpers/fake-repo.js';
import { newRepo } from '../repository/helpers.js';

/**
 * Snapshot at position 9 (second 0); segments 9→[10..99] (seconds 10–13), 99→[100..999]
 * (20–23), 999→[1000..1500] (30–32), stored newest first so storage order is no help either.
 */
async function repoWithLog(): Promise<Repository> {
  const { repo } = await newRepo();
  await fakeSnapshot(repo, { position: 9, second: 0 });
  await fakeSegment(repo, 999, txs([1000, 1200, 1500], 30));
  await fakeSegment(repo, 99, txs([100, 250, 700, 999], 20));
  await fakeSegment(repo, 9, txs([10, 11, 50, 99], 10));
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
    await fakeSnapshot(repo, { position: 100, second: 21 });
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
