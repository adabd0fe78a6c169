/**
 * Exactness of point-in-time restore on PostgreSQL, end to end through the repository:
 * reference CRM + live workload, stream + snapshot, restores at several checkpoints, and the
 * classic accident (mass DELETE) restored to one microsecond before its commit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { decodeSegment } from '../../src/backup/segment-codec.js';
import { pgTableChecksums, type TableChecksum } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import {
  pgExec,
  restoreInto,
  serverNowMicros,
  startStream,
  takeSnapshot,
  tempRepo,
  type TempRepo,
} from '../helpers/pitr.js';

describe('PostgreSQL point-in-time restore', () => {
  let source: TestDatabase;
  let tr: TempRepo;
  const targets: TestDatabase[] = [];
  const NAME = 'crm_pitr';

  beforeAll(async () => {
    source = await createPgDatabase('pitr_src');
    tr = await tempRepo();
    await seedCrm(source.url, { scale: 0.01, seed: 3 });
  });
  afterAll(async () => {
    for (const t of targets) await t.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await tr?.dispose();
  });

  async function freshTarget(): Promise<TestDatabase> {
    const t = await createPgDatabase('pitr_dst');
    targets.push(t);
    return t;
  }

  it('restores exactly to every checkpoint taken under a live workload, and undoes a mass DELETE', async () => {
    const stream = startStream(tr.repo, driver, source.url, NAME);
    await stream.started;
    await takeSnapshot(tr.repo, driver, source.url, NAME, ['base']);

    // The workload runs in slices; between slices nothing writes, so the checksums taken there
    // are exactly the committed state at the recorded server time.
    const checkpoints: Array<{ at: bigint; sums: Record<string, TableChecksum> }> = [];
    for (let i = 0; i < 3; i++) {
      await runWorkload(source.url, { ratePerSecond: 300, durationMs: 1500, seed: 100 + i });
      checkpoints.push({ sums: await pgTableChecksums(source.url), at: await serverNowMicros(source.url) });
    }
    const beforeDelete = checkpoints.at(-1)!;
    const deleted = await pgExec(source.url, 'DELETE FROM contacts');
    expect(deleted.rowCount).toBeGreaterThan(100);
    await runWorkload(source.url, { ratePerSecond: 300, durationMs: 800, seed: 999 });
    const end = await serverNowMicros(source.url);
    await stream.waitCovered(end);
    await stream.stop();

    for (const cp of checkpoints) {
      const target = await freshTarget();
      await restoreInto(tr.repo, driver, NAME, { kind: 'time', micros: cp.at }, target.url);
      expect(await pgTableChecksums(target.url)).toEqual(cp.sums);
    }

    // Find the bad transaction in the log, as a DBA would, and stop one microsecond before it.
    let deleteCommit: bigint | undefined;
    for (const seg of await tr.repo.listSegments(NAME)) {
      for await (const tx of decodeSegment(tr.repo.readStream(seg.data), seg.id)) {
        if (
          tx.commitTime > beforeDelete.at &&
          tx.changes >= deleted.rowCount! &&
          tx.tables?.includes('public.contacts')
        ) {
          deleteCommit ??= tx.commitTime;
        }
      }
    }
    expect(deleteCommit).toBeDefined();
    const justBefore = await freshTarget();
    await restoreInto(tr.repo, driver, NAME, { kind: 'time', micros: deleteCommit! - 1n }, justBefore.url);
    expect(await pgTableChecksums(justBefore.url)).toEqual(beforeDelete.sums);

    // Inclusive: at the commit instant itself the DELETE is applied.
    const atCommit = await freshTarget();
    await restoreInto(tr.repo, driver, NAME, { kind: 'time', micros: deleteCommit! }, atCommit.url);
    const rows = await pgExec(atCommit.url, 'SELECT count(*)::int AS n FROM contacts');
    expect(rows.rows[0].n).toBe(0);
  });

  it('restores a snapshot alone, and the restored sequences hand out fresh ids', async () => {
    const target = await freshTarget();
    const summary = await restoreInto(tr.repo, driver, NAME, { kind: 'tag', tag: 'base' }, target.url);
    expect(summary.transactions).toBe(0);
    const ins = await pgExec(
      target.url,
      `INSERT INTO users (email, full_name, role, created_at, updated_at) VALUES ('new@example.com', 'New User', 'rep', now(), now()) RETURNING id`,
    );
    expect(Number(ins.rows[0].id)).toBeGreaterThan(0);
  });

  it('refuses a time the log does not cover, naming how far it reaches', async () => {
    const target = await freshTarget();
    const future = (await serverNowMicros(source.url)) + 3_600_000_000n;
    await expect(
      restoreInto(tr.repo, driver, NAME, { kind: 'time', micros: future }, target.url),
    ).rejects.toThrow(/The change log of crm_pitr is complete only up to .*; .* is later/);
  });
});
