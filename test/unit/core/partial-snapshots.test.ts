/**
 * A snapshot taken with --tables or --schemas holds only some tables: it must never stand in for
 * the whole database. Restore plans choose among snapshots that cover what is restored, `list`
 * says which snapshots are partial, and retention counts them apart from full backups.
 */
import { describe, expect, it } from 'vitest';
import { applyPolicy, forget } from '../../../src/repository/index.js';
import type { Repository, SnapshotManifest } from '../../../src/repository/repository-api.js';
import { restore, type RestoreTarget } from '../../../src/restore/restore.js';
import { listSources, repositoryPositionOrder } from '../../../src/restore/sources.js';
import { UsageError } from '../../../src/util/errors.js';
import { memoryLogger } from '../../../src/util/log.js';
import { formatMicros } from '../../../src/util/time.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSegment, fakeSnapshot, S, T0, txs } from '../../helpers/fake-repo.js';
import { newRepo } from '../repository/helpers.js';

const ALL = ['crm.customers', 'crm.notes', 'crm.orders'];
const at = (second: number): RestoreTarget => ({ kind: 'time', micros: T0 + BigInt(second) * S });

/**
 * Full snapshot F (second 0, position 10, tagged nightly), then a partial one P of customers
 * (second 20, position 30, tagged nightly too), and a log from F on through second 42 that changes
 * orders and notes after P.
 */
async function repoWithPartial(): Promise<{ repo: Repository; full: string; partial: string }> {
  const { repo } = await newRepo();
  const full = await fakeSnapshot(repo, { position: 10, second: 0, tables: ALL, tags: ['nightly'] });
  const partial = await fakeSnapshot(repo, {
    position: 30,
    second: 20,
    tables: ['crm.customers'],
    tags: ['nightly'],
    filter: { tables: ['customers'] },
  });
  await fakeSegment(repo, 10, txs([11, 12, 29], 10, ['crm.customers']));
  await fakeSegment(repo, 29, txs([31, 32, 40], 40, ['crm.orders', 'crm.notes']));
  return { repo, full, partial };
}

async function run(
  repo: Repository,
  target: RestoreTarget,
  tables?: string[],
): Promise<{ snapshot: string; loaded: string[]; applied: string[]; log: ReturnType<typeof memoryLogger> }> {
  const t = fakeTarget();
  const log = memoryLogger();
  const summary = await restore({
    repo,
    targetUrl: 'fake://restored',
    target,
    tables,
    jobs: 1,
    log,
    drivers: onlyDriver(fakeDriver(t)),
  });
  return {
    snapshot: summary.snapshot,
    loaded: [...t.loaded].sort(),
    applied: t.applied.map((x) => x.position),
    log,
  };
}

async function refusal(repo: Repository, target: RestoreTarget, tables?: string[]): Promise<Error> {
  return run(repo, target, tables).then(
    () => {
      throw new Error('the restore was not refused');
    },
    (e: unknown) => e as Error,
  );
}

describe('a partial snapshot never stands in for the whole database', () => {
  it('restore --at takes the newest FULL snapshot before the instant and replays every table from it', async () => {
    const { repo, full } = await repoWithPartial();
    const r = await run(repo, at(41));
    expect(r.snapshot).toBe(full);
    expect(r.loaded).toEqual(ALL);
    expect(r.applied).toEqual(['11', '12', '29', '31', '32']);
    await repo.close();
  });

  it('restore --latest and --tag take the newest full snapshot, not a newer partial one', async () => {
    const { repo, full } = await repoWithPartial();
    expect((await run(repo, { kind: 'latest' })).snapshot).toBe(full);
    expect((await run(repo, { kind: 'tag', tag: 'nightly' })).loaded).toEqual(ALL);
    await repo.close();
  });

  it('a --tables restore may start from a partial snapshot that holds those tables, and only then', async () => {
    const { repo, full, partial } = await repoWithPartial();
    const customers = await run(repo, at(41), ['customers']);
    expect(customers.snapshot).toBe(partial);
    expect(customers.loaded).toEqual(['crm.customers']);
    const orders = await run(repo, at(41), ['orders']);
    expect(orders.snapshot).toBe(full);
    expect(orders.loaded).toEqual(['crm.orders']);
    const both = await run(repo, { kind: 'latest' }, ['customers', 'notes']);
    expect(both.snapshot).toBe(full);
    await repo.close();
  });

  it('restore --snapshot of a partial one restores what it holds and says so', async () => {
    const { repo, partial } = await repoWithPartial();
    const r = await run(repo, { kind: 'snapshot', id: partial.slice(0, 8) });
    expect(r.loaded).toEqual(['crm.customers']);
    expect(r.log.events).toContainEqual({
      level: 'warn',
      event: 'restore.partial',
      message: `Snapshot ${partial.slice(0, 12)} is partial (taken with --tables customers): only its 1 table is restored, not the whole database.`,
    });
    await repo.close();
  });

  it('refuses when only partial snapshots are there, naming the newest and how to restore it', async () => {
    const { repo } = await newRepo();
    const p = await fakeSnapshot(repo, {
      position: 30,
      second: 20,
      tables: ['crm.customers'],
      tags: ['adhoc'],
      filter: { tables: ['customers'], schemas: ['crm'] },
    });
    await fakeSegment(repo, 30, txs([31], 30));
    const id = p.slice(0, 12);
    const why = `is partial (taken with --tables customers --schemas crm): restore it with --snapshot ${id} to get only its tables, or only tables it holds with --tables.`;
    expect((await refusal(repo, { kind: 'latest' })).message).toBe(
      `No snapshot of crm covers the whole database; the newest, ${id}, ${why}`,
    );
    expect((await refusal(repo, { kind: 'tag', tag: 'adhoc' })).message).toBe(
      `No snapshot of crm tagged "adhoc" covers the whole database; the newest, ${id}, ${why}`,
    );
    expect((await refusal(repo, at(30))).message).toBe(
      `No snapshot of crm at or before ${formatMicros(T0 + 30n * S)} covers the whole database; the newest, ${id}, ${why}`,
    );
    await repo.close();
  });
});

describe('list shows which snapshots are partial', () => {
  it('marks each snapshot, gives its filter, and counts only full snapshots for restorable windows', async () => {
    const { repo } = await newRepo();
    await fakeSnapshot(repo, {
      position: 30,
      second: 20,
      tables: ['crm.customers'],
      filter: { tables: ['customers'] },
    });
    await fakeSegment(repo, 30, txs([31, 32], 30));
    let [listing] = await listSources(repo, undefined, onlyDriver(fakeDriver()));
    expect(listing!.snapshots[0]).toMatchObject({ partial: true, filter: { tables: ['customers'] } });
    // a partial snapshot and its log cannot restore the whole database to any time
    expect(listing!.restorable).toEqual([]);
    await fakeSnapshot(repo, { position: 5, second: 1, tables: ALL });
    await fakeSegment(repo, 5, txs([6, 30], 2));
    [listing] = await listSources(repo, undefined, onlyDriver(fakeDriver()));
    expect(listing!.snapshots.map((s) => s.partial)).toEqual([false, true]);
    expect(listing!.snapshots[0]).not.toHaveProperty('filter');
    expect(listing!.restorable).toEqual([
      { from: formatMicros(T0 + S), to: formatMicros(T0 + 31n * S - 1n) },
    ]);
    await repo.close();
  });
});

describe('retention counts partial snapshots apart from full backups', () => {
  const snap = (id: string, second: number, filter?: SnapshotManifest['filter']): SnapshotManifest => ({
    id,
    source: 'crm',
    driver: 'fake',
    driverFormatVersion: 1,
    tags: [],
    position: String(second),
    consistentAt: formatMicros(T0 + BigInt(second) * S),
    consistentAtMicros: String(T0 + BigInt(second) * S),
    startedAt: '',
    finishedAt: '',
    schemaFormat: 'fake',
    schema: { chunks: [], sizes: [], bytes: 0 },
    streams: [],
    meta: {},
    sourceUrl: '',
    ...(filter ? { filter } : {}),
  });
  const customers = { tables: ['customers'] };

  it('keep-last counts full snapshots only; partial ones stay while newer than the oldest kept full one', () => {
    const decisions = applyPolicy(
      [
        snap('f1', 0),
        snap('p1', 10, customers),
        snap('f2', 20),
        snap('p2', 30, customers),
        snap('p3', 40, customers),
      ],
      { keepLast: 1 },
    );
    const kept = Object.fromEntries(decisions.map((d) => [d.snapshot.id, d.reasons]));
    expect(kept).toEqual({
      p3: ['partial, newer than the oldest kept full snapshot'],
      p2: ['partial, newer than the oldest kept full snapshot'],
      f2: ['last 1'],
      p1: [],
      f1: [],
    });
  });

  it('a source with partial snapshots only keeps them by the rules, for each filter apart', () => {
    const orders = { tables: ['orders'] };
    const decisions = applyPolicy(
      [snap('c1', 0, customers), snap('o1', 5, orders), snap('c2', 10, customers), snap('o2', 15, orders)],
      { keepLast: 1 },
    );
    expect(decisions.filter((d) => d.keep).map((d) => d.snapshot.id)).toEqual(['o2', 'c2']);
  });

  it('forget --keep-last 1 keeps the newest full snapshot and the log it needs', async () => {
    const { repo, full, partial } = await repoWithPartial();
    const result = await forget(
      repo,
      { keepLast: 1 },
      { comparePositions: await repositoryPositionOrder(repo, onlyDriver(fakeDriver())) },
    );
    expect(result.kept.map((k) => k.snapshot.id).sort()).toEqual([full, partial].sort());
    expect(result.removed).toEqual([]);
    expect(result.removedSegments).toEqual([]);
    expect((await run(repo, at(41))).loaded).toEqual(ALL);
    await repo.close();
  });
});

describe('names a --tables restore gives must match', () => {
  it('refuses (exit 2) each name that matches no table of any snapshot, before the target is opened', async () => {
    const { repo } = await repoWithPartial();
    const err = await refusal(repo, { kind: 'latest' }, ['customers', 'nosuch', 'ordres']);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      '--tables "nosuch", "ordres" match no table in any snapshot of crm; check the spelling (nothing was restored).',
    );
    await repo.close();
  });

  it('refuses a name the chosen snapshot does not hold, naming the snapshot', async () => {
    const { repo, partial } = await repoWithPartial();
    const err = await refusal(repo, { kind: 'snapshot', id: partial }, ['customers', 'orders']);
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe(
      `--tables "orders" matches no table of snapshot ${partial.slice(0, 12)} (consistent at ${formatMicros(T0 + 20n * S)}); check the spelling, or restore from a snapshot that holds it (nothing was restored).`,
    );
    await repo.close();
  });
});
