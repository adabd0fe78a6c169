/**
 * The stored log as `crm-backup log` reads it, and restores to a transaction (`--before`,
 * `--through`), through the driver contract with a fake driver whose positions are unpadded
 * decimals ("99" < "100" < "1000") and whose clock has whole seconds only: several transactions
 * share a commit second, so only their positions tell them apart.
 */
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../../src/driver/source-driver.js';
import type { Repository } from '../../../src/repository/repository-api.js';
import { SEGMENT_MAGIC, encodeTransaction } from '../../../src/repository/segment-codec.js';
import {
  listTransactions,
  newLogStats,
  openSourceLog,
  resolveReference,
  transactionChanges,
  windowTransactions,
  type LogQuery,
} from '../../../src/restore/log.js';
import { restore, type RestoreTarget } from '../../../src/restore/restore.js';
import { RestoreRefusedError, UsageError } from '../../../src/util/errors.js';
import { memoryLogger } from '../../../src/util/log.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { newRepo } from '../repository/helpers.js';

const S = 1_000_000n;
const T0 = 1_767_225_600n * S; // 2026-01-01T00:00:00Z
const drivers = onlyDriver(fakeDriver());

type Tx = [position: number, second: number, tables: string[], changes: number, more?: boolean];

function txs(list: Tx[]): Transaction[] {
  return list.map(([p, sec, tables, changes, more]) => ({
    position: String(p),
    commitTime: T0 + BigInt(sec) * S,
    payload: Buffer.from(`tx ${p}`),
    changes,
    tables,
    ...(more ? { more: true } : {}),
  }));
}

async function commitSegment(
  repo: Repository,
  source: string,
  from: number,
  log: Transaction[],
): Promise<void> {
  const data = await repo.writeStream(
    (async function* () {
      yield SEGMENT_MAGIC;
      for (const t of log) yield encodeTransaction(t);
    })(),
  );
  const whole = log.filter((t) => !t.more);
  const newest = log.reduce((m, t) => (t.commitTime > m ? t.commitTime : m), 0n);
  await repo.commitSegment({
    source,
    driver: 'fake',
    driverFormatVersion: 1,
    fromPosition: String(from),
    firstPosition: log[0]!.position,
    lastPosition: log.at(-1)!.position,
    firstCommitMicros: String(log[0]!.commitTime),
    lastCommitMicros: String(log.at(-1)!.commitTime),
    coveredUntilMicros: String(newest - 1n),
    transactions: whole.length,
    changes: log.reduce((n, t) => n + t.changes, 0),
    tables: [...new Set(log.flatMap((t) => t.tables ?? []))].sort(),
    data,
    createdAt: new Date().toISOString(),
  });
}

async function commitSnapshot(
  repo: Repository,
  source: string,
  position: number,
  second: number,
): Promise<string> {
  const empty = await repo.writeStream((async function* () {})());
  const micros = T0 + BigInt(second) * S;
  return repo.commitSnapshot({
    source,
    driver: 'fake',
    driverFormatVersion: 1,
    tags: [],
    position: String(position),
    consistentAt: new Date(Number(micros / 1000n)).toISOString(),
    consistentAtMicros: String(micros),
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    schemaFormat: 'fake',
    schema: empty,
    streams: [{ name: 't', table: 't', format: 'fake', data: empty }],
    meta: {},
    sourceUrl: `fake://${source}`,
  });
}

/**
 * Source `crm`: the log starts at 1 (transaction 5 is before the snapshot at 9); 10, 11 (an idle
 * marker) and 50 commit in the same second; 100 is stored in two parts. Segments are stored
 * newest first, and 999..1000 twice (a stream restarted after a crash). Source `other` holds 77.
 */
async function repoWithLog(): Promise<{ repo: Repository; snapshot: string }> {
  const { repo } = await newRepo();
  const snapshot = await commitSnapshot(repo, 'crm', 9, 9);
  await commitSegment(
    repo,
    'crm',
    999,
    txs([
      [1000, 30, ['contacts'], 1],
      [1200, 31, ['deals'], 2],
      [1500, 32, ['contacts'], 1],
    ]),
  );
  await commitSegment(
    repo,
    'crm',
    700,
    txs([
      [999, 23, ['deals'], 1],
      [1000, 30, ['contacts'], 1],
    ]),
  );
  await commitSegment(
    repo,
    'crm',
    99,
    txs([
      [100, 20, ['contacts'], 3, true],
      [100, 20, ['contacts', 'deals'], 2],
      [250, 20, ['deals'], 1],
      [700, 21, ['contacts'], 4],
      [999, 23, ['deals'], 1],
    ]),
  );
  await commitSegment(
    repo,
    'crm',
    9,
    txs([
      [10, 10, ['deals'], 1],
      [11, 10, [], 0],
      [50, 10, ['contacts'], 2],
      [99, 11, ['deals'], 1],
    ]),
  );
  await commitSegment(
    repo,
    'crm',
    1,
    txs([
      [5, 8, ['contacts'], 1],
      [9, 8, ['deals'], 1],
    ]),
  );
  await commitSnapshot(repo, 'other', 5, 9);
  await commitSegment(repo, 'other', 5, txs([[77, 10, ['contacts'], 1]]));
  return { repo, snapshot };
}

async function list(repo: Repository, query: LogQuery = {}) {
  const log = await openSourceLog(repo, 'crm', drivers);
  const stats = newLogStats();
  const entries = [];
  for await (const e of listTransactions(repo, log, query, stats)) entries.push(e);
  return { entries, refs: entries.map((e) => e.ref), stats };
}

async function restoreTo(repo: Repository, target: RestoreTarget) {
  const applied = fakeTarget();
  const log = memoryLogger();
  const summary = await restore({
    repo,
    source: 'crm',
    targetUrl: 'fake://restored',
    target,
    jobs: 1,
    log,
    drivers: onlyDriver(fakeDriver(applied)),
  });
  return { applied: applied.applied.map((t) => t.position), summary, log };
}

const at = (second: number): bigint => T0 + BigInt(second) * S;

describe('crm-backup log: the stored transactions', () => {
  it('lists them once each in position order, large transactions as one entry, without crm-backup markers', async () => {
    const { repo } = await repoWithLog();
    const { entries, refs } = await list(repo);
    expect(refs).toEqual([
      'tx-5',
      'tx-9',
      'tx-10',
      'tx-50',
      'tx-99',
      'tx-100',
      'tx-250',
      'tx-700',
      'tx-999',
      'tx-1000',
      'tx-1200',
      'tx-1500',
    ]);
    const large = entries.find((e) => e.ref === 'tx-100')!;
    expect(large).toMatchObject({
      parts: 2,
      changes: 5,
      commitTime: '2026-01-01T00:00:20Z',
      position: '100',
    });
    expect(large.tables).toEqual([
      { table: 'contacts', inserts: 0, updates: 5, deletes: 0, truncates: 0 },
      { table: 'deals', inserts: 0, updates: 2, deletes: 0, truncates: 0 },
    ]);
    expect((await list(repo, { all: true })).refs).toContain('tx-11');
  });

  it('reads only the segments whose commit times meet --from/--to', async () => {
    const { repo } = await repoWithLog();
    const { refs, stats } = await list(repo, { fromMicros: at(20), toMicros: at(21) });
    expect(refs).toEqual(['tx-100', 'tx-250', 'tx-700']);
    expect(stats).toMatchObject({ segments: 5, segmentsRead: 1 });
  });

  it('filters by --tables and --min-changes, skipping segments that cannot match', async () => {
    const { repo } = await repoWithLog();
    const contacts = await list(repo, { tables: ['contacts'], fromMicros: at(10) });
    expect(contacts.refs).toEqual(['tx-50', 'tx-100', 'tx-700', 'tx-1000', 'tx-1500']);
    const big = await list(repo, { minChanges: 5 });
    expect(big.refs).toEqual(['tx-100']);
    expect(big.stats.segmentsRead).toBe(1);
  });

  it('--show: the row changes of every part of one transaction, found from its reference', async () => {
    const { repo } = await repoWithLog();
    const log = await openSourceLog(repo, 'crm', drivers);
    const located = await resolveReference(repo, log, 'tx-100', (m) => new UsageError(m));
    const rows = [];
    for await (const r of transactionChanges(repo, log, located)) rows.push(r);
    expect(rows.map((r) => `${r.table}#${r.key.n}`)).toEqual([
      'contacts#0',
      'contacts#1',
      'contacts#2',
      'contacts#0',
      'contacts#1',
      'deals#0',
      'deals#1',
    ]);
  });

  it('names, for list, the transactions at the ends of each restorable window', async () => {
    const { repo } = await repoWithLog();
    expect(await windowTransactions(repo, 'crm', drivers)).toEqual([
      {
        first: { ref: 'tx-10', commitTime: '2026-01-01T00:00:10Z' },
        last: { ref: 'tx-1500', commitTime: '2026-01-01T00:00:32Z' },
      },
    ]);
  });
});

describe('restore --before / --through a transaction', () => {
  it('stops by position, exactly, where commit times cannot tell transactions apart', async () => {
    const { repo, snapshot } = await repoWithLog();
    // --at that second takes all three of 10, 11 and 50
    expect((await restoreTo(repo, { kind: 'time', micros: at(10) })).applied).toEqual(['10', '11', '50']);
    const before = await restoreTo(repo, { kind: 'before', ref: 'tx-50' });
    expect(before.applied).toEqual(['10', '11']);
    expect(before.log.events.find((e) => e.event === 'restore.plan')?.message).toBe(
      `Restoring snapshot ${snapshot.slice(0, 12)} (2026-01-01T00:00:09.000Z) and 1 log segments up to just before transaction tx-50 (committed 2026-01-01T00:00:10Z).`,
    );
    const through = await restoreTo(repo, { kind: 'through', ref: 'tx-50' });
    expect(through.applied).toEqual(['10', '11', '50']);
    expect(through.summary.lastApplied?.position).toBe('50');
  });

  it('applies every part of a large transaction through it, and none before it', async () => {
    const { repo } = await repoWithLog();
    expect((await restoreTo(repo, { kind: 'before', ref: 'tx-100' })).applied).toEqual([
      '10',
      '11',
      '50',
      '99',
    ]);
    const through = await restoreTo(repo, { kind: 'through', ref: 'tx-100' });
    expect(through.applied).toEqual(['10', '11', '50', '99', '100', '100']);
    expect(through.summary.transactions).toBe(5);
    // past the duplicate segment, each transaction once
    expect((await restoreTo(repo, { kind: 'through', ref: 'tx-1200' })).applied.slice(-4)).toEqual([
      '700',
      '999',
      '1000',
      '1200',
    ]);
  });

  it('refuses, in one sentence each, a reference that is unknown, of another source, or before the oldest snapshot', async () => {
    const { repo, snapshot } = await repoWithLog();
    const refusal = (target: RestoreTarget) =>
      restoreTo(repo, target).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    const unknown = await refusal({ kind: 'before', ref: 'tx-12' });
    expect(unknown).toBeInstanceOf(RestoreRefusedError);
    expect(unknown?.message).toBe(
      'Transaction tx-12 is not in the stored log of crm; "crm-backup log" lists the transactions it holds.',
    );
    expect((await refusal({ kind: 'through', ref: 'tx-77' }))?.message).toBe(
      'Transaction tx-77 is in the stored log of source other, not of crm; pass --name other.',
    );
    const old = await refusal({ kind: 'before', ref: 'tx-5' });
    expect(old).toBeInstanceOf(RestoreRefusedError);
    expect(old?.message).toBe(
      `Transaction tx-5 (committed 2026-01-01T00:00:08Z) is already in the oldest snapshot of crm (${snapshot.slice(0, 12)}, consistent at 2026-01-01T00:00:09.000Z), so the state just before it cannot be restored.`,
    );
    const malformed = await refusal({ kind: 'before', ref: 'last tuesday' });
    expect(malformed).toBeInstanceOf(UsageError);
    expect(malformed?.message).toBe('"last tuesday" is not a fake transaction reference like tx-10.');
  });

  it('refuses a transaction behind a gap in the log, and restores it from a snapshot taken after the gap', async () => {
    const { repo } = await newRepo();
    await commitSnapshot(repo, 'crm', 9, 9);
    await commitSegment(
      repo,
      'crm',
      9,
      txs([
        [10, 10, ['t'], 1],
        [20, 11, ['t'], 1],
      ]),
    );
    await commitSegment(repo, 'crm', 30, txs([[40, 12, ['t'], 1]]));
    const err = await restoreTo(repo, { kind: 'through', ref: 'tx-40' }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(
      /^The change log has a gap between position 20 and position 30; transaction tx-40 cannot be restored exactly from snapshot [0-9a-f]{12}\.$/,
    );
    await commitSnapshot(repo, 'crm', 35, 12);
    expect((await restoreTo(repo, { kind: 'through', ref: 'tx-40' })).applied).toEqual(['40']);
  });
});
