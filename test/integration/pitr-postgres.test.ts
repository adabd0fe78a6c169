/**
 * Exactness of point-in-time restore on PostgreSQL, end to end through the repository:
 * reference CRM + live workload, stream + snapshot, restores at several checkpoints, and the
 * classic accident (mass DELETE) restored to one microsecond before its commit.
 */
import { describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import { pgTableChecksums, type TableChecksum } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { pgExec, pitrFixture, restoreInto, serverNowMicros, startStream, takeSnapshot } from '../helpers/pitr.js';

describe('PostgreSQL point-in-time restore', () => {
  const fx = pitrFixture('pitr', (url) => seedCrm(url, { scale: 0.01, seed: 3 }));
  const NAME = 'crm_pitr';

  it('restores exactly to every checkpoint taken under a live workload, and undoes a mass DELETE', async () => {
    const stream = startStream(fx.repo, driver, fx.source.url, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, fx.source.url, NAME, ['base']);

    // The workload runs in slices; between slices nothing writes, so the checksums taken there
    // are exactly the committed state at the recorded server time.
    const checkpoints: Array<{ at: bigint; sums: Record<string, TableChecksum> }> = [];
    for (let i = 0; i < 3; i++) {
      await runWorkload(fx.source.url, { ratePerSecond: 300, durationMs: 1500, seed: 100 + i });
      checkpoints.push({ sums: await pgTableChecksums(fx.source.url), at: await serverNowMicros(fx.source.url) });
    }
    const beforeDelete = checkpoints.at(-1)!;
    const deleted = await pgExec(fx.source.url, 'DELETE FROM contacts');
    expect(deleted.rowCount).toBeGreaterThan(100);
    await runWorkload(fx.source.url, { ratePerSecond: 300, durationMs: 800, seed: 999 });
    const end = await serverNowMicros(fx.source.url);
    await stream.waitCovered(end);
    await stream.stop();

    for (const cp of checkpoints) {
      const target = await fx.target();
      await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: cp.at }, target.url);
      expect(await pgTableChecksums(target.url)).toEqual(cp.sums);
    }

    // Find the bad transaction in the log, as a DBA would, and stop one microsecond before it.
    let deleteCommit: bigint | undefined;
    for (const seg of await fx.repo.listSegments(NAME)) {
      for await (const tx of decodeSegment(fx.repo.readStream(seg.data), seg.id)) {
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
    const justBefore = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: deleteCommit! - 1n }, justBefore.url);
    expect(await pgTableChecksums(justBefore.url)).toEqual(beforeDelete.sums);

    // Inclusive: at the commit instant itself the DELETE is applied.
    const atCommit = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: deleteCommit! }, atCommit.url);
    const rows = await pgExec(atCommit.url, 'SELECT count(*)::int AS n FROM contacts');
    expect(rows.rows[0].n).toBe(0);
  });

  it('restores a snapshot alone, and the restored sequences hand out fresh ids', async () => {
    const target = await fx.target();
    const summary = await restoreInto(fx.repo, driver, NAME, { kind: 'tag', tag: 'base' }, target.url);
    expect(summary.transactions).toBe(0);
    const ins = await pgExec(
      target.url,
      `INSERT INTO users (email, full_name, role, created_at, updated_at) VALUES ('new@example.com', 'New User', 'rep', now(), now()) RETURNING id`,
    );
    expect(Number(ins.rows[0].id)).toBeGreaterThan(0);
  });

  it('refuses a time the log does not cover, naming how far it reaches', async () => {
    const target = await fx.target();
    const future = (await serverNowMicros(fx.source.url)) + 3_600_000_000n;
    await expect(
      restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: future }, target.url),
    ).rejects.toThrow(/The change log of crm_pitr is complete only up to .*; .* is later/);
  });
});
