/**
 * Faults around the PostgreSQL stream: a SIGKILLed stream process, a PostgreSQL restart under
 * the stream, a repository that fills up, an interrupted snapshot. After each, point-in-time
 * restore must still be exact, or nothing must have been committed or acknowledged.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import type { Repository } from '../../src/repository/repository-api.js';
import { AbortError, StorageError } from '../../src/util/errors.js';
import { memoryLogger } from '../../src/util/log.js';
import { createPgDatabase, pgStartOwnServer, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import {
  faultyTempRepo,
  pgExec,
  restoreInto,
  serverNowMicros,
  startStream,
  streamProcess,
  streamUntilRepositoryFault,
  takeSnapshot,
  tempRepo,
} from '../helpers/pitr.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function db(prefix: string, serverUrl?: string): Promise<TestDatabase> {
  const d = await createPgDatabase(prefix, serverUrl);
  cleanups.push(() => d.drop());
  return d;
}

async function waitRepoCovered(repo: Repository, micros: bigint): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const segs = await repo.listSegments('crm');
    if (segs.some((s) => BigInt(s.coveredUntilMicros) >= micros)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the log never covered the checkpoint');
}

describe('PostgreSQL stream faults', () => {
  it('a stream killed with SIGKILL mid-workload and restarted loses nothing', async () => {
    const source = await db('kill_src');
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await seedCrm(source.url, { scale: 0.005, seed: 5 });

    const first = streamProcess(source.url, tr.dir);
    await first.started;
    await takeSnapshot(tr.repo, driver, source.url, 'crm');
    const workload = runWorkload(source.url, { ratePerSecond: 300, durationMs: 4000, seed: 11 });
    // killed once it has stored and acknowledged part of the workload (only the workload makes
    // changes), so the restart must resume from the middle of it
    await waitFor(
      async () => (await tr.repo.listSegments('crm')).some((s) => s.changes > 0),
      'the stream to store part of the workload',
      60_000,
      100,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    await workload;

    const second = streamProcess(source.url, tr.dir);
    await second.started;
    await runWorkload(source.url, { ratePerSecond: 300, durationMs: 1000, seed: 12 });
    const sums = await pgTableChecksums(source.url);
    const at = await serverNowMicros(source.url);
    await waitRepoCovered(tr.repo, at);
    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);

    const target = await db('kill_dst');
    await restoreInto(tr.repo, driver, 'crm', { kind: 'time', micros: at }, target.url);
    expect(await pgTableChecksums(target.url)).toEqual(sums);
  });

  it('SIGINT in the middle of a workload stores the open segment, acknowledges it and exits 0', async () => {
    const source = await db('sigint_src');
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await pgExec(source.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    const s = streamProcess(source.url, tr.dir, 'crm_sigint', ['--segment-seconds', '3600']);
    await s.started;
    await pgExec(source.url, `INSERT INTO t SELECT g, 'x' FROM generate_series(1, 500) g`);
    // SIGINT only once the stream has taken the insert into its open segment (a progress line
    // counts it), or a slow machine would store fewer than 500 changes. Idle markers are
    // transactions too, but the first comes 5 s after the stream starts, after the insert.
    await waitFor(() => s.transactionsSeen() >= 1, 'the stream to take in the insert', 60_000);
    s.child.kill('SIGINT');
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toContain('"stream.stop"');
    const segs = await tr.repo.listSegments('crm_sigint');
    expect(segs.reduce((n, x) => n + x.changes, 0)).toBe(500);
    const slot = await pgExec(
      source.url,
      `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'crmb_crm_sigint'`,
    );
    const { positionFromLsn } = await import('../../drivers/postgres/internal/position.js');
    const last = segs
      .map((x) => x.lastPosition)
      .sort()
      .at(-1)!;
    expect(positionFromLsn(slot.rows[0].lsn)).toBe(last);
  });

  it('reconnects when PostgreSQL restarts under the stream, and loses nothing', async () => {
    const server = await pgStartOwnServer();
    cleanups.push(() => server.stop());
    const source = await db('restart_src', server.url);
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await seedCrm(source.url, { scale: 0.005, seed: 6 });
    const stream = startStream(tr.repo, driver, source.url, 'crm_restart');
    await stream.started;
    await takeSnapshot(tr.repo, driver, source.url, 'crm_restart');
    await runWorkload(source.url, { ratePerSecond: 300, durationMs: 1000, seed: 21 });
    await server.restart();
    await runWorkload(source.url, { ratePerSecond: 300, durationMs: 1000, seed: 22 });
    const sums = await pgTableChecksums(source.url);
    const at = await serverNowMicros(source.url);
    await stream.waitCovered(at, 60_000);
    await stream.stop();

    const target = await db('restart_dst', server.url);
    await restoreInto(tr.repo, driver, 'crm_restart', { kind: 'time', micros: at }, target.url);
    expect(await pgTableChecksums(target.url)).toEqual(sums);
  });

  it('stops with a clear error when the repository is full, without acknowledging', async () => {
    const source = await db('full_src');
    const tr = await faultyTempRepo();
    cleanups.push(() => tr.dispose());
    const { stored, error: err } = await streamUntilRepositoryFault(
      tr,
      driver,
      source.url,
      'crm_full',
      'no-space',
    );
    const lastStored = stored
      .map((s) => s.lastPosition)
      .sort()
      .at(-1)!;

    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).reason).toBe('no-space');

    // The slot was not moved past what the repository holds: the next run gets the rows again.
    const slot = await pgExec(
      source.url,
      `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name LIKE 'crmb_%' AND database = current_database()`,
    );
    const { positionFromLsn } = await import('../../drivers/postgres/internal/position.js');
    expect(driver.comparePositions(positionFromLsn(slot.rows[0].lsn), lastStored)).toBeLessThanOrEqual(0);

    tr.faults.heal();
    await takeSnapshot(tr.repo, driver, source.url, 'crm_full').catch(() => undefined);
    const again = startStream(tr.repo, driver, source.url, 'crm_full');
    await again.started;
    const at = await serverNowMicros(source.url);
    await again.waitCovered(at);
    await again.stop();
    const segs = await tr.repo.listSegments('crm_full');
    expect(segs.reduce((n, s) => n + s.changes, 0)).toBeGreaterThanOrEqual(200);
  });

  it('an interrupted snapshot commits nothing and leaves no replication slot behind', async () => {
    const source = await db('abort_src');
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await seedCrm(source.url, { scale: 0.01, seed: 7 });
    const controller = new AbortController();
    const log = memoryLogger();
    const origProgress = log.progress;
    log.progress = (e, m, f) => {
      controller.abort();
      origProgress(e, m, f);
    };
    const err = await runSnapshot({
      repo: tr.repo,
      driver,
      sourceUrl: source.url,
      name: 'crm_abort',
      tags: [],
      jobs: 2,
      log,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(await tr.repo.listSnapshots()).toEqual([]);
    // A temporary slot goes when its server session ends, a moment after the client closed it.
    const slots = async (): Promise<unknown[]> =>
      (
        await pgExec(
          source.url,
          `SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'crmb_snap%'`,
        )
      ).rows;
    await expect.poll(slots, { timeout: 30_000, interval: 100 }).toEqual([]);
  });
});
