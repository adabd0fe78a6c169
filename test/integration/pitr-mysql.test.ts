/**
 * Exactness of point-in-time restore on MySQL/MariaDB, end to end through the repository:
 * reference CRM + live workload, stream + snapshot, restores at several checkpoints, the classic
 * accident (mass DELETE) undone by restoring to just before its commit, and AUTO_INCREMENT
 * counters that never hand out an id the source already used.
 *
 * MariaDB's binlog gives commit times to the second, and a transaction belongs to `--at T` when
 * its commit second is at or before T truncated to the second (README, "Time resolution"). So
 * each checkpoint lets the server's clock enter the next second before anything else is written,
 * and "just before the DELETE" is one microsecond before its commit second.
 */
import { describe, expect, it } from 'vitest';
import { driver } from '../../drivers/mysql/index.js';
import { mysqlTableChecksums, type TableChecksum } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import { formatMicros } from '../../src/util/time.js';
import { mysqlCounters, mysqlExec } from '../helpers/mysql.js';
import {
  afterCommitUnit,
  pitrFixture,
  restoreInto,
  serverNowMicros,
  startStream,
  takeSnapshot,
} from '../helpers/pitr.js';

interface Checkpoint {
  readonly at: bigint;
  readonly sums: Record<string, TableChecksum>;
  /** The source's AUTO_INCREMENT counters (the next id each table hands out) at `at`. */
  readonly counters: Record<string, bigint>;
}

/**
 * The committed state now: nothing writes between a workload slice and the next, so the state
 * read after the clock is the state at `at`; then the clock is let into the next second, so the
 * next write cannot share a commit second with `at`.
 */
async function checkpoint(url: string): Promise<Checkpoint> {
  const at = await serverNowMicros(url);
  const cp = { at, sums: await mysqlTableChecksums(url), counters: await mysqlCounters(url) };
  await afterCommitUnit(url, driver, at);
  return cp;
}

async function insertUser(url: string, email: string): Promise<bigint> {
  const res = (await mysqlExec(
    url,
    `INSERT INTO users (email, full_name, role, created_at, updated_at) VALUES (?, 'Some User', 'rep', NOW(6), NOW(6))`,
    [email],
  )) as unknown as { insertId: number };
  return BigInt(res.insertId);
}

/** Inserts a user and deletes it again: the source's counter is then past every id its rows hold. */
async function insertAndDeleteUser(url: string, email: string): Promise<bigint> {
  const id = await insertUser(url, email);
  await mysqlExec(url, 'DELETE FROM users WHERE id = ?', [id.toString()]);
  return id;
}

/** Each of the source's counters is matched or passed by the target's (shown as `got < want` if not). */
function expectCountersAtLeast(got: Record<string, bigint>, source: Record<string, bigint>): void {
  const verdict = (t: string, n: bigint): string =>
    (got[t] ?? 0n) >= n ? 'at least the source' : `${got[t]} < ${n}`;
  expect(Object.fromEntries(Object.entries(source).map(([t, n]) => [t, verdict(t, n)]))).toEqual(
    Object.fromEntries(Object.keys(source).map((t) => [t, 'at least the source'])),
  );
}

describe('MySQL/MariaDB point-in-time restore', () => {
  const fx = pitrFixture('pitr_my', (url) => seedCrm(url, { scale: 0.01, seed: 3 }), { dialect: 'mysql' });

  interface History {
    /** The stream's name: the database's unique name (the replica id derives from it). */
    readonly name: string;
    readonly checkpoints: Checkpoint[];
    readonly beforeDelete: Checkpoint;
    readonly afterDelete: Checkpoint;
    /** The user inserted and deleted just before the last checkpoint. */
    readonly goneUser: bigint;
    readonly deletedRows: number;
  }

  /** Stream + snapshot, three workload slices, a mass DELETE, more workload; made once. */
  let history: Promise<History> | undefined;
  const streamedHistory = (): Promise<History> => (history ??= makeHistory());
  async function makeHistory(): Promise<History> {
    const { url } = fx.source;
    const name = fx.source.name;
    const stream = startStream(fx.repo, driver, url, name);
    await stream.started;
    await takeSnapshot(fx.repo, driver, url, name, ['base']);
    // The workload runs in slices; between slices nothing writes, so the checksums taken there
    // are exactly the committed state at the recorded server time.
    const checkpoints: Checkpoint[] = [];
    let goneUser = 0n;
    for (let i = 0; i < 3; i++) {
      await runWorkload(url, { ratePerSecond: 300, durationMs: 1500, seed: 100 + i });
      if (i === 2) goneUser = await insertAndDeleteUser(url, 'gone@example.com');
      checkpoints.push(await checkpoint(url));
    }
    const deleted = (await mysqlExec(url, 'DELETE FROM contacts', [])) as unknown as { affectedRows: number };
    const afterDelete = await checkpoint(url);
    await runWorkload(url, { ratePerSecond: 300, durationMs: 800, seed: 999 });
    await stream.waitCovered(await serverNowMicros(url));
    await stream.stop();
    return {
      name,
      checkpoints,
      beforeDelete: checkpoints.at(-1)!,
      afterDelete,
      goneUser,
      deletedRows: deleted.affectedRows,
    };
  }

  /** The DELETE's commit time, found in the stored log as a DBA would: the first transaction after the last checkpoint touching contacts. */
  async function deleteCommit(h: History): Promise<bigint> {
    const contacts = `${fx.source.name}.contacts`;
    let commit: bigint | undefined;
    let changes = 0;
    for (const seg of await fx.repo.listSegments(h.name)) {
      for await (const tx of decodeSegment(fx.repo.readStream(seg.data), seg.id)) {
        if (tx.commitTime <= h.beforeDelete.at || !tx.tables?.includes(contacts)) continue;
        commit ??= tx.commitTime;
        // a large transaction is stored in parts, all with its commit time
        if (tx.commitTime === commit) changes += tx.changes;
      }
    }
    expect(commit).toBeDefined();
    expect(changes).toBeGreaterThanOrEqual(h.deletedRows);
    return commit!;
  }

  it('restores exactly to every checkpoint taken under a live workload, counters never behind the source', async () => {
    const h = await streamedHistory();
    for (const [i, cp] of h.checkpoints.entries()) {
      const target = await fx.target();
      await restoreInto(fx.repo, driver, h.name, { kind: 'time', micros: cp.at }, target.url);
      expect(await mysqlTableChecksums(target.url), `checkpoint ${i + 1}`).toEqual(cp.sums);
      expectCountersAtLeast(await mysqlCounters(target.url), cp.counters);
    }
    // the user created and deleted before the last checkpoint moved the source's counter past the
    // rows: a user added to the restored database gets a new id, not the deleted user's
    const last = await fx.target();
    await restoreInto(fx.repo, driver, h.name, { kind: 'time', micros: h.beforeDelete.at }, last.url);
    expect(h.beforeDelete.counters.users).toBe(h.goneUser + 1n);
    expect(await insertUser(last.url, 'new@example.com')).toBeGreaterThan(h.goneUser);
  });

  it('undoes a mass DELETE by restoring to one microsecond before its commit second', async () => {
    const h = await streamedHistory();
    expect(h.deletedRows).toBeGreaterThan(100);
    const commit = await deleteCommit(h);
    const justBefore = await fx.target();
    await restoreInto(fx.repo, driver, h.name, { kind: 'time', micros: commit - 1n }, justBefore.url);
    expect(await mysqlTableChecksums(justBefore.url)).toEqual(h.beforeDelete.sums);
  });

  // The DELETE's ON DELETE SET NULL (deals, activities, email_events) and CASCADE (notes) effects
  // are made by InnoDB and are not in MariaDB's binlog: the target's foreign keys make them again.
  it('includes the DELETE at its commit time, with what it cascaded to, and nothing after it', async () => {
    const h = await streamedHistory();
    const commit = await deleteCommit(h);
    const atCommit = await fx.target();
    await restoreInto(fx.repo, driver, h.name, { kind: 'time', micros: commit }, atCommit.url);
    expect(await mysqlTableChecksums(atCommit.url)).toEqual(h.afterDelete.sums);
  });

  it('refuses a time the log does not cover, naming how far it reaches', async () => {
    const h = await streamedHistory();
    const covered = (await fx.repo.listSegments(h.name))
      .map((s) => BigInt(s.coveredUntilMicros))
      .reduce((a, b) => (a > b ? a : b));
    const refusal = async (micros: bigint): Promise<string> => {
      const target = await fx.target();
      const err = await restoreInto(fx.repo, driver, h.name, { kind: 'time', micros }, target.url).catch(
        (e: unknown) => e,
      );
      return (err as Error).message;
    };
    // the stream has stopped (the restore can tell): a moment after the last second it covered
    await afterCommitUnit(fx.source.url, driver, covered);
    const past = await serverNowMicros(fx.source.url);
    expect(await refusal(past)).toBe(
      `The change log of ${h.name} is complete only up to ${formatMicros(covered)}; ${formatMicros(past)} is later, and no stream of ${h.name} is running: start "crm-backup stream" and restore once it has stored a segment, or restore an earlier time.`,
    );
    const future = past + 3_600_000_000n;
    expect(await refusal(future)).toMatch(
      new RegExp(
        `^The change log of ${h.name} is complete only up to ${formatMicros(covered)}; ${formatMicros(future)} is later, and in the future by this machine's clock \\(it reads [0-9T:.-]+Z\\): a restore can only reach commits that have happened\\.$`,
      ),
    );
  });

  // last: its snapshot, taken after the stream stopped, would be the one a later restore --at starts from
  it('restores a snapshot alone, and the restored AUTO_INCREMENT counters hand out fresh ids', async () => {
    const { url, name } = fx.source;
    // the source's counters run ahead of its rows: the last user it created is deleted
    const gone = await insertAndDeleteUser(url, 'gone-too@example.com');
    const sums = await mysqlTableChecksums(url);
    const sourceCounters = await mysqlCounters(url);
    await takeSnapshot(fx.repo, driver, url, name, ['alone']);
    const target = await fx.target();
    const summary = await restoreInto(fx.repo, driver, name, { kind: 'tag', tag: 'alone' }, target.url);
    expect(summary.transactions).toBe(0);
    expect(await mysqlTableChecksums(target.url)).toEqual(sums);
    expectCountersAtLeast(await mysqlCounters(target.url), sourceCounters);
    expect(await insertUser(target.url, 'new@example.com')).toBeGreaterThan(gone);
  });
});
