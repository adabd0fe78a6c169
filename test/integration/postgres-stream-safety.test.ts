/**
 * Safety of the PostgreSQL stream for the repository and for the source: a slot that went
 * missing must show as a gap (never a silently incomplete log), keyless tables must never make
 * the application's UPDATE/DELETE fail, a synchronous_standby_names that would make every commit
 * wait for the stream is refused by doctor, and a silent network drop ends the session.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { openPgChangeLog, changeLogNames } from '../../drivers/postgres/change-log.js';
import { parsePgUrl } from '../../drivers/postgres/connection.js';
import { driver } from '../../drivers/postgres/index.js';
import { encodePosition, lsnToBigInt } from '../../drivers/postgres/position.js';
import { runStream, type StreamResult } from '../../src/backup/stream-job.js';
import type { Repository } from '../../src/repository/repository-api.js';
import { planRestore } from '../../src/restore/plan.js';
import { RestoreRefusedError, SourceError } from '../../src/util/errors.js';
import { memoryLogger } from '../../src/util/log.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { pgExec, serverNowMicros, takeSnapshot, tempRepo } from '../helpers/pitr.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function db(prefix: string): Promise<TestDatabase> {
  const d = await createPgDatabase(prefix);
  cleanups.push(() => d.drop());
  return d;
}

/** Slots are per server: a stream name unique to the database. */
const nameOf = (url: string): string => new URL(url).pathname.slice(1);

/** A stream job in this process whose log events the test can read. */
function stream(repo: Repository, url: string, name: string) {
  const controller = new AbortController();
  const log = memoryLogger();
  const done: Promise<StreamResult> = runStream({
    repo,
    driver,
    sourceUrl: url,
    name,
    segmentBytes: 4 * 1024 * 1024,
    segmentSeconds: 1,
    heartbeatMs: 200,
    markerMs: 300,
    log,
    signal: controller.signal,
  });
  done.catch(() => {});
  const started = new Promise<void>((resolve, reject) => {
    const poll = setInterval(() => {
      if (log.events.some((e) => e.event === 'stream.start')) end();
    }, 50);
    const end = (): void => {
      clearInterval(poll);
      resolve();
    };
    done.then(end, (err: unknown) => {
      clearInterval(poll);
      reject(err);
    });
  });
  return {
    log,
    done,
    started,
    stop: async () => {
      controller.abort();
      return done;
    },
  };
}

async function waitCovered(repo: Repository, name: string, micros: bigint): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const segs = await repo.listSegments(name);
    if (segs.some((s) => BigInt(s.coveredUntilMicros) >= micros)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the log of ${name} never covered ${micros}`);
}

describe('PostgreSQL stream safety', () => {
  it('a dropped slot shows as a gap with its boundaries, and the stream warns about it', async () => {
    const source = await db('gap_src');
    const name = nameOf(source.url);
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await pgExec(source.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');

    const first = stream(tr.repo, source.url, name);
    await first.started;
    await takeSnapshot(tr.repo, driver, source.url, name);
    await pgExec(source.url, `INSERT INTO t SELECT g, 'before' FROM generate_series(1, 10) g`);
    const before = await serverNowMicros(source.url);
    await waitCovered(tr.repo, name, before);
    await first.stop();
    const lastStored = (await tr.repo.listSegments(name))
      .map((s) => s.lastPosition)
      .sort()
      .at(-1)!;

    const { slot } = changeLogNames(name);
    // the walsender releases the slot a moment after the stream closes it
    for (let i = 0; ; i++) {
      const r = await pgExec(source.url, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, [
        slot,
      ]);
      if (!r.rows[0]?.active || i > 50) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await pgExec(source.url, `SELECT pg_drop_replication_slot($1)`, [slot]);
    await pgExec(source.url, `INSERT INTO t SELECT g, 'lost' FROM generate_series(11, 20) g`);
    const inGap = await serverNowMicros(source.url);

    const second = stream(tr.repo, source.url, name);
    await second.started;
    const missing = second.log.events.find((e) => e.level === 'warn' && /was missing/.test(e.message));
    expect(missing?.message).toContain(`changes between position ${lastStored} and `);
    await pgExec(source.url, `INSERT INTO t SELECT g, 'after' FROM generate_series(21, 30) g`);
    const after = await serverNowMicros(source.url);
    await waitCovered(tr.repo, name, after);
    await second.stop();

    const segments = await tr.repo.listSegments(name);
    const resumed = segments.find((s) => s.fromPosition > lastStored)!;
    expect(resumed).toBeDefined();
    expect(missing?.message).toContain(`and ${resumed.fromPosition} are not in the log`);
    const snapshots = await tr.repo.listSnapshots({ source: name });
    expect(() =>
      planRestore(snapshots, segments, { kind: 'time', micros: before }, driver.comparePositions),
    ).not.toThrow();
    let refusal: unknown;
    try {
      planRestore(snapshots, segments, { kind: 'time', micros: inGap }, driver.comparePositions);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(RestoreRefusedError);
    expect((refusal as Error).message).toContain(`gap between position ${lastStored}`);
    expect((refusal as Error).message).toContain(`and position ${resumed.fromPosition}`);
  });

  it('refuses when the slot is missing and the server is behind what the repository holds', async () => {
    const source = await db('behind_src');
    const name = nameOf(source.url);
    const r = await pgExec(source.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    const ahead = encodePosition(lsnToBigInt(r.rows[0].lsn as string) + (1n << 36n));
    const err = await openPgChangeLog(parsePgUrl(source.url), name, ahead, {}).then(
      async (log) => {
        await log.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toMatch(/is behind what the repository holds/);
    const { slot } = changeLogNames(name);
    const left = await pgExec(source.url, `SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    expect(left.rowCount).toBe(0);
  });
});
