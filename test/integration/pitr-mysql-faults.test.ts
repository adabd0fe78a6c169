/**
 * Faults around the MySQL/MariaDB stream: MariaDB restarted under it, a repository that fills up
 * or cannot be written, a SIGINT in the middle of a workload. After each, point-in-time restore
 * must still be exact, and nothing the repository does not hold may count as stored. (A stream
 * killed with SIGKILL is the conformance suite's case.)
 *
 * The server keeps no state for a MySQL stream (no slot): where it continues is the last position
 * the repository stored, so "not advanced" is read from the repository's segments.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/mysql/index.js';
import { mysqlTableChecksums } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import type { Repository } from '../../src/repository/repository-api.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import { mapFsError } from '../../src/storage/fs-errors.js';
import type { StorageError } from '../../src/util/errors.js';
import { createMysqlDatabase, mysqlStartOwnServer, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import { mysqlExec } from '../helpers/mysql.js';
import {
  faultyTempRepo,
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
  const d = await createMysqlDatabase(prefix, serverUrl);
  cleanups.push(() => d.drop());
  return d;
}

/** The positions of every stored transaction part, in the order the log stored them. */
async function storedTransactions(repo: Repository, name: string): Promise<string[]> {
  const positions: string[] = [];
  for (const seg of await repo.listSegments(name))
    for await (const tx of decodeSegment(repo.readStream(seg.data), seg.id)) positions.push(tx.position);
  return positions;
}

describe('MySQL/MariaDB stream faults', () => {
  it('reconnects when MariaDB restarts under the stream, and loses nothing, doubles nothing', async () => {
    const server = await mysqlStartOwnServer();
    cleanups.push(() => server.stop());
    const source = await db('restart_src', server.url);
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await seedCrm(source.url, { scale: 0.005, seed: 6 });
    const name = source.name;
    const stream = startStream(tr.repo, driver, source.url, name);
    await stream.started;
    await takeSnapshot(tr.repo, driver, source.url, name);
    await runWorkload(source.url, { ratePerSecond: 300, durationMs: 1000, seed: 21 });
    await server.restart();
    // the restart starts a new binlog file: the stream goes on in it from where it was
    await runWorkload(source.url, { ratePerSecond: 300, durationMs: 1000, seed: 22 });
    const sums = await mysqlTableChecksums(source.url);
    const at = await serverNowMicros(source.url);
    await stream.waitCovered(at, 90_000);
    await stream.stop();

    // each transaction stored once, in log order, across the restart
    const positions = await storedTransactions(tr.repo, name);
    for (let i = 1; i < positions.length; i++)
      expect(
        driver.comparePositions(positions[i - 1]!, positions[i]!),
        `${positions[i - 1]} then ${positions[i]}`,
      ).toBe(-1);
    expect(
      new Set(positions.map((p) => p.split(':')[0])).size,
      'binlog files the stored log spans',
    ).toBeGreaterThan(1);

    const target = await db('restart_dst', server.url);
    await restoreInto(tr.repo, driver, name, { kind: 'time', micros: at }, target.url);
    expect(await mysqlTableChecksums(target.url)).toEqual(sums);
  });

  const repoDirFault = (code: 'ENOSPC' | 'EACCES'): StorageError =>
    // what the local backend throws for a full disk or a folder it may not write
    mapFsError(
      Object.assign(new Error(`${code}: simulated`), { code }),
      'write',
      join('/repo', 'data', 'x'),
      'data/x',
    );

  for (const [label, code] of [
    ['full', 'ENOSPC'],
    ['unwritable', 'EACCES'],
  ] as const) {
    it(`stops with the storage error when the repository is ${label}, storing nothing more, and a new run loses nothing`, async () => {
      const source = await db(`${label}_src`);
      const name = source.name;
      const tr = await faultyTempRepo();
      cleanups.push(() => tr.dispose());
      const fault = repoDirFault(code);
      const { stored, error: err } = await streamUntilRepositoryFault(tr, driver, source.url, name, fault);
      expect(err).toBe(fault);
      expect((err as StorageError).message).toBe(
        code === 'ENOSPC'
          ? `Could not write /repo/data/x: no space left on the device (ENOSPC); free space or move the repository.`
          : `Permission denied to write /repo/data/x; the user running crm-backup (uid ${process.getuid!()}) needs read and write access to the repository folder.`,
      );
      // nothing counts as stored that is not: the segments, and so where the next run starts, are as before
      expect((await tr.repo.listSegments(name)).map((s) => s.id)).toEqual(stored.map((s) => s.id));

      tr.faults.heal();
      const again = startStream(tr.repo, driver, source.url, name);
      await again.started;
      const sums = await mysqlTableChecksums(source.url);
      const at = await serverNowMicros(source.url);
      await again.waitCovered(at);
      await again.stop();
      expect(sums.t?.rows).toBe(200);
      const target = await db(`${label}_dst`);
      await restoreInto(tr.repo, driver, name, { kind: 'time', micros: at }, target.url);
      expect(await mysqlTableChecksums(target.url)).toEqual(sums);
    });
  }

  it('SIGINT with a transaction in the open segment stores it, exits 0, and a restore --through it has it all', async () => {
    const source = await db('sigint_src');
    const name = source.name;
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await mysqlExec(source.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    const s = streamProcess(source.url, tr.dir, name, ['--segment-seconds', '3600']);
    await s.started;
    await takeSnapshot(tr.repo, driver, source.url, name);
    await mysqlExec(source.url, `INSERT INTO t SELECT seq, 'x' FROM seq_1_to_500`);
    // SIGINT only once the stream has taken the insert into its open segment (a progress line
    // counts it), or a slow machine would store fewer than 500 changes. Idle markers are
    // transactions too, but the first comes 5 s after the stream started, after the insert.
    await waitFor(() => s.transactionsSeen() >= 1, 'the stream to take in the insert', 60_000);
    s.child.kill('SIGINT');
    expect(await s.exited).toBe(0);
    expect(s.stderr()).toContain('"stream.stop"');
    const segs = await tr.repo.listSegments(name);
    expect(segs.reduce((n, x) => n + x.changes, 0)).toBe(500);
    // Its commit second is not over in the stored log (another commit could still come in it), so
    // --at cannot reach it yet; --through its reference, as `crm-backup log` shows it, can.
    let ref: string | undefined;
    for (const seg of segs)
      for await (const tx of decodeSegment(tr.repo.readStream(seg.data), seg.id))
        if (tx.changes > 0) ref = driver.transactions!.summarize(tx).ref;
    const target = await db('sigint_dst');
    await restoreInto(tr.repo, driver, name, { kind: 'through', ref: ref! }, target.url);
    expect(await mysqlTableChecksums(target.url)).toEqual(await mysqlTableChecksums(source.url));
  });
});
