/**
 * Target conformance: what a driver's restore side must do whatever the log holds. A snapshot
 * restore (no replay) is the source at snapshot time; a target that already holds objects is
 * refused untouched, unless the user asks for `--clean`, which replaces what it holds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { DriverModule } from '../../src/driver/driver-module.js';
import type { TestDatabase } from '../harness/index.js';
import { runCli } from '../helpers/cli.js';
import { TEST_PASSWORD, restoreInto, takeSnapshot, type TempRepo } from '../helpers/pitr.js';
import type { ConformanceFactory, TableChecksums } from './factory.js';
import { suiteScope } from './support.js';

export function targetConformance(factory: ConformanceFactory): void {
  describe(`${factory.name} driver conformance: target`, () => {
    const scope = suiteScope(factory);
    let fx: {
      source: TestDatabase;
      tr: TempRepo;
      driver: DriverModule;
      name: string;
      snapshotId: string;
      atSnapshot: TableChecksums;
    };

    beforeAll(async () => {
      const source = await scope.database('tgt_src');
      await factory.createSchema(source.url);
      const driver = await scope.driver(source.url);
      const tr = await scope.repo();
      const name = source.name;
      // nothing writes between the checksums and the snapshot, so they are the snapshot's state
      const atSnapshot = await factory.checksums(source.url);
      const snapshotId = await takeSnapshot(tr.repo, driver, source.url, name);
      // the source moves on, so a restore that read the live database instead would show
      await factory.workloadStep(source.url, 1);
      fx = { source, tr, driver, name, snapshotId, atSnapshot };
    });

    it('a snapshot restore (no replay) equals the checksums taken at snapshot time', async () => {
      expect(await factory.checksums(fx.source.url)).not.toEqual(fx.atSnapshot);
      const target = await scope.database('tgt_snap');
      const summary = await restoreInto(
        fx.tr.repo,
        fx.driver,
        fx.name,
        { kind: 'snapshot', id: fx.snapshotId },
        target.url,
      );
      expect(summary.transactions).toBe(0);
      expect(await factory.checksums(target.url)).toEqual(fx.atSnapshot);
    });

    it('refuses to restore into a non-empty target and leaves it untouched; with --clean it replaces its contents', async () => {
      const target = await scope.database('tgt_full');
      await factory.createSchema(target.url);
      await factory.workloadStep(target.url, 5);
      const held = await factory.checksums(target.url);
      expect(held).not.toEqual(fx.atSnapshot);

      const refusal = await restoreInto(
        fx.tr.repo,
        fx.driver,
        fx.name,
        { kind: 'snapshot', id: fx.snapshotId },
        target.url,
      ).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refusal).toMatchObject({ code: 'SOURCE' });
      expect((refusal as Error).message).toMatch(/not empty/);
      expect((refusal as Error).message).toContain('--clean');
      expect(await factory.checksums(target.url)).toEqual(held);

      const clean = await runCli(
        [
          'restore',
          '--repo',
          fx.tr.dir,
          '--target',
          target.url,
          '--name',
          fx.name,
          '--snapshot',
          fx.snapshotId,
          '--clean',
        ],
        { env: { CRM_BACKUP_PASSWORD: TEST_PASSWORD } },
      );
      expect(clean.stderr).not.toMatch(/"level":"error"/);
      expect(clean.code).toBe(0);
      expect(await factory.checksums(target.url)).toEqual(fx.atSnapshot);
    });
  });
}
