/**
 * Source conformance: snapshot -> stream -> point-in-time restore -> per-table checksums, through
 * the driver contract, the core jobs and the CLI only. Every database vocabulary comes from the
 * factory; a driver passes when every restore equals the source's checksums at the chosen
 * instant, or is refused with a sentence naming why.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { verifyRepository } from '../../src/repository/index.js';
import { listTransactions, openSourceLog, type TransactionEntry } from '../../src/restore/log.js';
import { tableMatcher } from '../../src/restore/tables.js';
import { memoryLogger } from '../../src/util/log.js';
import { formatMicros } from '../../src/util/time.js';
import type { TestDatabase } from '../harness/index.js';
import { afterCommitUnit, restoreInto, startStream, takeSnapshot, type TempRepo } from '../helpers/pitr.js';
import { SUITE_TABLES, type ConformanceFactory, type TableChecksums } from './factory.js';
import {
  maxPosition,
  startWorkload,
  streamProcess,
  suiteScope,
  waitFor,
  waitRepoCovered,
  type SuiteScope,
} from './support.js';

interface Checkpoint {
  readonly at: bigint;
  readonly sums: TableChecksums;
}

/** The stream's name in the repository: the database's unique name, so parallel runs never share one. */
const streamName = (db: TestDatabase): string => db.name;

/** A source database with the suite schema, a repository and the registry's driver for it. */
async function freshSource(
  scope: SuiteScope,
  factory: ConformanceFactory,
  label: string,
): Promise<{ source: TestDatabase; tr: TempRepo; driver: DriverModule; name: string }> {
  const source = await scope.database(label);
  await factory.createSchema(source.url);
  const driver = await scope.driver(source.url);
  return { source, tr: await scope.repo(), driver, name: streamName(source) };
}

/** `it`, or `it.fails` for a case the factory lists as a known failure of its driver. */
function caseOf(factory: ConformanceFactory): (title: string, fn: () => Promise<void>) => void {
  return (title, fn) => {
    const known = factory.knownFailures?.some((k) => title.startsWith(k)) ?? false;
    (known ? it.fails : it)(title, fn);
  };
}

async function checkpoint(factory: ConformanceFactory, url: string, driver: DriverModule): Promise<Checkpoint> {
  // Read the clock first: nothing writes between a step and the next, so the checksums that
  // follow are the committed state at `at`.
  const at = await factory.serverNowMicros(url);
  const sums = await factory.checksums(url);
  // the next write must fall in a later commit-time unit than `at` (MariaDB: whole seconds)
  await afterCommitUnit(url, driver, at, factory.serverNowMicros);
  return { at, sums };
}

/** Makes the server forget what the stopped stream `name` has not read: the factory's way, or the contract's. */
async function loseChangeLog(
  factory: ConformanceFactory,
  driver: DriverModule,
  url: string,
  name: string,
): Promise<void> {
  if (factory.loseChangeLog) return factory.loseChangeLog(url, name);
  const source = await driver.openSource(url, { name });
  try {
    const drop = source.dropChangeLog?.bind(source);
    if (!drop)
      throw new Error(
        `${factory.name}: the driver has no dropChangeLog(); give the factory a loseChangeLog() to make a gap`,
      );
    // The server may hold the stopped stream's log for its session a moment longer; the driver
    // refuses to drop a log in use, so try until that session is gone.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await drop();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  } finally {
    await source.close();
  }
}

export function sourceConformance(factory: ConformanceFactory): void {
  describe(`${factory.name} driver conformance: source`, () => {
    const scope = suiteScope(factory);

    describe('a streamed history with three checkpoints', () => {
      let h: {
        tr: TempRepo;
        driver: DriverModule;
        name: string;
        checkpoints: Checkpoint[];
      };

      beforeAll(async () => {
        const { source, tr, driver, name } = await freshSource(scope, factory, 'hist_src');
        const stream = startStream(tr.repo, driver, source.url, name, 1);
        await stream.started;
        await takeSnapshot(tr.repo, driver, source.url, name);
        const checkpoints: Checkpoint[] = [];
        for (let step = 1; step <= 3; step++) {
          await factory.workloadStep(source.url, step);
          checkpoints.push(await checkpoint(factory, source.url, driver));
        }
        await stream.waitCovered(checkpoints.at(-1)!.at, 60_000);
        await stream.stop();
        h = { tr, driver, name, checkpoints };
      });

      it('restores --at each of three checkpoints to exactly the checksums taken there', async () => {
        const { checkpoints } = h;
        // The checks below can fail only if the checkpoints differ in every table.
        for (const cp of checkpoints) expect(Object.keys(cp.sums).sort()).toEqual([...SUITE_TABLES].sort());
        for (const t of SUITE_TABLES)
          expect(new Set(checkpoints.map((cp) => cp.sums[t]!.hash)).size, `${t} changes at every step`).toBe(
            3,
          );
        for (const [i, cp] of checkpoints.entries()) {
          const target = await scope.database('hist_dst');
          await restoreInto(h.tr.repo, h.driver, h.name, { kind: 'time', micros: cp.at }, target.url);
          expect(await factory.checksums(target.url), `checkpoint ${i + 1}`).toEqual(cp.sums);
        }
      });

      it('includes a transaction at --at equal to its stored commit time, and excludes it one microsecond earlier', async () => {
        const [before, after] = h.checkpoints as [Checkpoint, Checkpoint];
        // Step 2 is the only transaction with row changes between the first two checkpoints;
        // its commit time is read from the log the stream stored, not from the database.
        const commits: bigint[] = [];
        for (const seg of await h.tr.repo.listSegments(h.name)) {
          for await (const tx of decodeSegment(h.tr.repo.readStream(seg.data), seg.id)) {
            if (tx.changes > 0 && tx.commitTime > before.at && tx.commitTime <= after.at)
              commits.push(tx.commitTime);
          }
        }
        expect(commits).toHaveLength(1);
        const commit = commits[0]!;

        const at = await scope.database('incl_dst');
        const atSummary = await restoreInto(
          h.tr.repo,
          h.driver,
          h.name,
          { kind: 'time', micros: commit },
          at.url,
        );
        expect(atSummary.lastApplied?.commitTime).toBe(formatMicros(commit));
        expect(await factory.checksums(at.url)).toEqual(after.sums);

        const justBefore = await scope.database('excl_dst');
        const beforeSummary = await restoreInto(
          h.tr.repo,
          h.driver,
          h.name,
          { kind: 'time', micros: commit - 1n },
          justBefore.url,
        );
        expect(beforeSummary.lastApplied?.commitTime).not.toBe(formatMicros(commit));
        expect(await factory.checksums(justBefore.url)).toEqual(before.sums);
      });

      it(`restores --tables ${factory.qualify('contacts')} equal to that table's checksum, the other tables ${factory.unselectedTables}`, async () => {
        const cp = h.checkpoints[1]!;
        const target = await scope.database('tables_dst');
        await restoreInto(h.tr.repo, h.driver, h.name, { kind: 'time', micros: cp.at }, target.url, {
          tables: [factory.qualify('contacts')],
        });
        const sums = await factory.checksums(target.url);
        expect(sums.contacts).toEqual(cp.sums.contacts);
        expect(sums.contacts!.rows).toBeGreaterThan(0);
        for (const t of SUITE_TABLES.filter((t) => t !== 'contacts')) {
          if (factory.unselectedTables === 'absent') expect(sums[t], t).toBeUndefined();
          else expect(sums[t]?.rows, t).toBe(0);
        }
      });
    });

    describe('restore to a transaction: --before and --through its reference', () => {
      let h: {
        tr: TempRepo;
        driver: DriverModule;
        name: string;
        other: string;
        /** Checksums just before and just after the bad transaction. */
        before: Checkpoint;
        after: Checkpoint;
        bad: TransactionEntry;
        /** A transaction committed after the stream started and before the snapshot. */
        early: TransactionEntry;
        otherRef: string;
      };

      beforeAll(async () => {
        const { source, tr, driver, name } = await freshSource(scope, factory, 'ref_src');
        const stream = startStream(tr.repo, driver, source.url, name, 1);
        await stream.started;
        await factory.workloadStep(source.url, 1);
        // One more transaction before the snapshot, so the snapshot holds one after `early`: a
        // snapshot whose position is exactly a transaction's (a binlog position is the end of the
        // last commit) is the state just after it, and --through it is rightly restorable.
        await factory.workloadStep(source.url, 2);
        const snapshotFrom = await factory.serverNowMicros(source.url);
        await takeSnapshot(tr.repo, driver, source.url, name);
        await factory.workloadStep(source.url, 3);
        const before = await checkpoint(factory, source.url, driver);
        await factory.badTransaction(source.url);
        const after = await checkpoint(factory, source.url, driver);
        // the log goes on after it, so --through must stop inside the log, not at its end
        await factory.workloadStep(source.url, 4);
        await stream.waitCovered(await factory.serverNowMicros(source.url), 60_000);
        await stream.stop();

        const log = await openSourceLog(tr.repo, name);
        const contacts = tableMatcher(driver, [factory.qualify('contacts')])!;
        const inBad: TransactionEntry[] = [];
        for await (const e of listTransactions(tr.repo, log, {
          fromMicros: before.at,
          toMicros: after.at,
          tables: [factory.qualify('contacts')],
        }))
          inBad.push(e);
        expect(
          inBad,
          'one transaction touching contacts between the checkpoints around the bad one',
        ).toHaveLength(1);
        expect(inBad[0]!.tables.map((t) => contacts(t.table))).toEqual([true]);
        expect(inBad[0]!.tables[0]!.updates).toBeGreaterThanOrEqual(10);
        let early: TransactionEntry | undefined;
        for await (const e of listTransactions(tr.repo, log, { toMicros: snapshotFrom, minChanges: 1 }))
          early ??= e;
        expect(early, 'the workload step before the snapshot is in the stored log').toBeDefined();

        // a second source in the same repository, for a reference of another source's log
        const o = await scope.database('ref_other');
        await factory.createSchema(o.url);
        const other = streamName(o);
        const otherStream = startStream(tr.repo, driver, o.url, other, 1);
        await otherStream.started;
        await factory.workloadStep(o.url, 1);
        await otherStream.waitCovered(await factory.serverNowMicros(o.url), 60_000);
        await otherStream.stop();
        let otherRef: string | undefined;
        for await (const e of listTransactions(tr.repo, await openSourceLog(tr.repo, other), {
          minChanges: 1,
        }))
          otherRef = e.ref;

        h = { tr, driver, name, other, before, after, bad: inBad[0]!, early: early!, otherRef: otherRef! };
      });

      it('restores --before the bad transaction to exactly the checksums just before it, --through it to those just after it', async () => {
        expect(h.after.sums.contacts).not.toEqual(h.before.sums.contacts);
        const before = await scope.database('ref_before');
        const log = memoryLogger();
        const summary = await restoreInto(
          h.tr.repo,
          h.driver,
          h.name,
          { kind: 'before', ref: h.bad.ref },
          before.url,
          {
            log,
          },
        );
        expect(await factory.checksums(before.url)).toEqual(h.before.sums);
        expect(summary.lastApplied?.position).not.toBe(h.bad.position);
        expect(log.events.find((e) => e.event === 'restore.plan')?.message).toContain(
          `up to just before transaction ${h.bad.ref} (committed ${h.bad.commitTime})`,
        );

        const through = await scope.database('ref_through');
        const after = await restoreInto(
          h.tr.repo,
          h.driver,
          h.name,
          { kind: 'through', ref: h.bad.ref },
          through.url,
        );
        expect(after.lastApplied?.position).toBe(h.bad.position);
        expect(await factory.checksums(through.url)).toEqual(h.after.sums);
      });

      caseOf(factory)('refuses a reference of another source, and one already in the oldest snapshot, one sentence each', async () => {
        const target = await scope.database('ref_refused');
        const refusal = (kind: 'before' | 'through', ref: string) =>
          restoreInto(h.tr.repo, h.driver, h.name, { kind, ref }, target.url).then(
            () => undefined,
            (e: unknown) => e as Error,
          );
        const foreign = await refusal('before', h.otherRef);
        expect(foreign).toMatchObject({ code: 'RESTORE_REFUSED' });
        expect(foreign?.message).toBe(
          `Transaction ${h.otherRef} is in the stored log of source ${h.other}, not of ${h.name}; pass --name ${h.other}.`,
        );
        const [snapshot] = await h.tr.repo.listSnapshots({ source: h.name });
        for (const kind of ['before', 'through'] as const) {
          const old = await refusal(kind, h.early.ref);
          expect(old).toMatchObject({ code: 'RESTORE_REFUSED' });
          expect(old?.message).toBe(
            `Transaction ${h.early.ref} (committed ${h.early.commitTime}) is already in the oldest snapshot of ${h.name} (${snapshot!.id.slice(0, 12)}, consistent at ${snapshot!.consistentAt}), so the state just ${kind === 'before' ? 'before' : 'after'} it cannot be restored.`,
          );
        }
      });
    });

    caseOf(factory)('refuses a restore --at a time inside a gap in the change log, naming the positions and times around it', async () => {
      const { source, tr, driver, name } = await freshSource(scope, factory, 'gap_src');
      const first = startStream(tr.repo, driver, source.url, name, 1);
      await first.started;
      await takeSnapshot(tr.repo, driver, source.url, name);
      await factory.workloadStep(source.url, 1);
      const before = await checkpoint(factory, source.url, driver);
      await first.waitCovered(before.at, 60_000);
      await first.stop();
      const firstRun = await tr.repo.listSegments(name);
      const lastStored = maxPosition(
        driver,
        firstRun.map((s) => s.lastPosition),
      )!;
      const coveredUntil = firstRun.reduce(
        (m, s) => (BigInt(s.coveredUntilMicros) > m ? BigInt(s.coveredUntilMicros) : m),
        -1n,
      );

      // Changes the log will never hold: the server forgets them before a stream reads them.
      await loseChangeLog(factory, driver, source.url, name);
      await factory.workloadStep(source.url, 2);
      const inGap = await factory.serverNowMicros(source.url);

      const second = startStream(tr.repo, driver, source.url, name, 1);
      await second.started;
      await factory.workloadStep(source.url, 3);
      await second.waitCovered(await factory.serverNowMicros(source.url), 60_000);
      await second.stop();
      const resumed = (await tr.repo.listSegments(name))
        .filter((s) => driver.comparePositions(s.fromPosition, lastStored) > 0)
        .sort((a, b) => driver.comparePositions(a.fromPosition, b.fromPosition))[0];
      expect(resumed, 'the second stream continues after the first one stopped').toBeDefined();
      // and it said so when it started, naming where the stored log ends
      const gapLines = second.log.events.filter((e) => e.event === 'stream.gap').map((e) => e.message);
      expect(gapLines).toHaveLength(1);
      expect(gapLines[0]).toMatch(/^The source can only continue from \S+, after the last stored position /);
      expect(gapLines[0]).toContain(
        `after the last stored position ${lastStored}; restores into that gap will be refused.`,
      );

      const target = await scope.database('gap_dst');
      const refusal = await restoreInto(
        tr.repo,
        driver,
        name,
        { kind: 'time', micros: inGap },
        target.url,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refusal).toMatchObject({ code: 'RESTORE_REFUSED' });
      const message = (refusal as Error).message;
      expect(message).toContain(`gap between position ${lastStored}`);
      expect(message).toContain(formatMicros(coveredUntil));
      expect(message).toContain(`position ${resumed!.fromPosition}`);
      expect(message).toContain(formatMicros(BigInt(resumed!.firstCommitMicros)));
      expect(message).toContain(formatMicros(inGap));

      // Before the gap the log is whole, and the restore exact.
      await restoreInto(tr.repo, driver, name, { kind: 'time', micros: before.at }, target.url);
      expect(await factory.checksums(target.url)).toEqual(before.sums);
    });

    it('an interrupted snapshot commits no snapshot and leaves a clean repository; a later snapshot restores exactly', async () => {
      const { source, tr, driver, name } = await freshSource(scope, factory, 'abort_src');
      const controller = new AbortController();
      let progress = 0;
      const log = memoryLogger();
      const record = log.progress;
      log.progress = (event, message, fields) => {
        record(event, message, fields);
        // a table stream is being stored: interrupt it now, as SIGINT would
        if (event === 'snapshot.progress' && progress++ === 0) controller.abort();
      };
      const err = await runSnapshot({
        repo: tr.repo,
        driver,
        sourceUrl: source.url,
        name,
        tags: [],
        jobs: 2,
        log,
        signal: controller.signal,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(progress, 'a table stream had begun when the snapshot was interrupted').toBeGreaterThan(0);
      expect(err).toMatchObject({ code: 'ABORTED' });
      expect(await tr.repo.listSnapshots()).toEqual([]);
      const report = await verifyRepository(tr.repo, { readData: true });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);

      const sums = await factory.checksums(source.url);
      const id = await takeSnapshot(tr.repo, driver, source.url, name);
      expect((await tr.repo.listSnapshots()).map((s) => s.id)).toEqual([id]);
      const target = await scope.database('abort_dst');
      await restoreInto(tr.repo, driver, name, { kind: 'snapshot', id }, target.url);
      expect(await factory.checksums(target.url)).toEqual(sums);
    });

    it('a crm-backup stream killed with SIGKILL mid-workload and started again loses nothing and doubles nothing', async () => {
      const { source, tr, driver, name } = await freshSource(scope, factory, 'kill_src');
      const first = streamProcess(tr.dir, source.url, name, scope);
      await first.waitEvent('stream.start');
      await takeSnapshot(tr.repo, driver, source.url, name);

      const workload = startWorkload(factory, source.url, 1);
      // Kill it once it has stored workload changes, so the kill lands between stored and unstored ones.
      await waitFor('a stored segment with row changes', async () =>
        (await tr.repo.listSegments(name)).some((s) => s.changes > 0) ? true : undefined,
      );
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const killedAt = workload.committed;
      await workload.reach(killedAt + 5); // steps committed while no stream runs
      const whileDown = await workload.stop();

      const second = streamProcess(tr.dir, source.url, name, scope);
      await second.waitEvent('stream.start');
      const more = startWorkload(factory, source.url, whileDown + 1);
      await more.reach(5);
      const lastStep = await more.stop();
      const end = await checkpoint(factory, source.url, driver);
      await waitRepoCovered(tr.repo, name, end.at);
      second.child.kill('SIGINT');
      expect((await second.exited).code).toBe(0);

      const target = await scope.database('kill_dst');
      const summary = await restoreInto(tr.repo, driver, name, { kind: 'time', micros: end.at }, target.url);
      expect(summary.transactions).toBeGreaterThanOrEqual(lastStep);
      expect(await factory.checksums(target.url)).toEqual(end.sums);
    });
  });
}
