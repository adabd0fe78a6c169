/**
 * restore --tables: the core may skip whole single-part transactions that touch no selected
 * table, but every part of a multi-part transaction must reach the driver, or its COMMIT never
 * comes. A recording TargetDriver stands in for the database: this tests the core's contract.
 */
import { describe, expect, it } from 'vitest';
import { SEGMENT_MAGIC, encodeTransaction } from '../../../src/backup/segment-codec.js';
import type { DriverModule } from '../../../src/driver/driver-module.js';
import type { Transaction } from '../../../src/driver/source-driver.js';
import type { TargetDriver } from '../../../src/driver/target-driver.js';
import type { SegmentManifest, SnapshotManifest } from '../../../src/repository/repository-api.js';
import { runRestore } from '../../../src/restore/restore-job.js';
import { memoryLogger } from '../../../src/util/log.js';
import { newRepo } from '../repository/helpers.js';

const tx = (position: string, tables: string[], more = false): Transaction => ({
  position,
  commitTime: 1_000n,
  payload: Buffer.from(position),
  changes: 1,
  tables,
  more,
});

describe('replay with --tables', () => {
  it('passes every part of a multi-part transaction to the driver and skips unrelated single ones', async () => {
    const { repo } = await newRepo();
    const log = [
      tx('02', ['public.other']),
      tx('03', ['public.keep'], true),
      tx('03', ['public.other']), // the last part touches only an unselected table
      tx('04', ['public.keep']),
    ];
    const data = await repo.writeStream(
      (async function* () {
        yield SEGMENT_MAGIC;
        for (const t of log) yield encodeTransaction(t);
      })(),
    );
    const empty = await repo.writeStream((async function* () {})());
    const snapshot = {
      id: 'snap',
      position: '01',
      consistentAtMicros: '0',
      streams: [{ name: 'public.keep', table: 'public.keep', format: 'x', data: empty }],
      schema: empty,
      schemaFormat: 'x',
    } as unknown as SnapshotManifest;
    const segment = { id: 'seg', data } as unknown as SegmentManifest;
    const applied: Array<{ position: string; more: boolean; tables: string[] }> = [];
    const target: TargetDriver = {
      kind: 'fake',
      assertEmpty: async () => {},
      createSchema: async () => {},
      load: async () => ({ rows: 0, bytes: 0 }),
      apply: async (t, o) =>
        void applied.push({ position: t.position, more: t.more === true, tables: [...(o?.tables ?? [])] }),
      finish: async () => {},
      close: async () => {},
    };
    const driver = {
      kind: 'fake',
      comparePositions: (a: string, b: string) => a.localeCompare(b),
      // the driver, not the core, reads what --tables names
      tableNames: {
        matcher: (wanted: readonly string[]) => (t: string) => wanted.includes(t.replace(/^public\./, '')),
      },
      openTarget: async () => target,
    } as unknown as DriverModule;
    const summary = await runRestore({
      repo,
      driver,
      plan: { snapshot, segments: [segment], untilMicros: 2_000n },
      targetUrl: 'fake://',
      jobs: 1,
      tables: ['keep'],
      log: memoryLogger(),
    });
    expect(applied).toEqual([
      { position: '03', more: true, tables: ['public.keep'] },
      { position: '03', more: false, tables: ['public.keep'] },
      { position: '04', more: false, tables: ['public.keep'] },
    ]);
    expect(summary.transactions).toBe(3);
    await repo.close();
  });
});
