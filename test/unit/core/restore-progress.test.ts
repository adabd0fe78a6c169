/**
 * A restore reports progress inside tables, not only as each one ends: one large table can take
 * most of a restore, and a DBA must see it move. A recording TargetDriver stands in for the database.
 */
import { describe, expect, it } from 'vitest';
import type { TargetDriver } from '../../../src/driver/target-driver.js';
import type { SnapshotManifest } from '../../../src/repository/repository-api.js';
import { runRestore } from '../../../src/restore/restore-job.js';
import { memoryLogger } from '../../../src/util/log.js';
import { fakeDriver } from '../../helpers/fake-driver.js';
import { crmStream, newRepo } from '../repository/helpers.js';

describe('restore progress', () => {
  it('says how much of all the data is read while a table loads, up to 100%', async () => {
    const { repo } = await newRepo();
    const big = await repo.writeStream(crmStream(6 * 1024 * 1024));
    const empty = await repo.writeStream((async function* () {})());
    const snapshot = {
      id: 'snap',
      position: '01',
      consistentAtMicros: '0',
      streams: [
        { name: 'public.contacts', table: 'public.contacts', format: 'x', data: big },
        { name: 'public.users', table: 'public.users', format: 'x', data: empty },
      ],
      schema: empty,
      schemaFormat: 'x',
    } as unknown as SnapshotManifest;
    const log = memoryLogger();
    const seenWhileLoading: string[] = [];
    const target: TargetDriver = {
      kind: 'fake',
      assertEmpty: async () => {},
      createSchema: async () => {},
      load: async (name, _format, data) => {
        let bytes = 0;
        for await (const piece of data) {
          bytes += piece.length;
          // what the log said while this table was still loading
          const last = log.events.filter((e) => e.event === 'restore.read').at(-1);
          if (last) seenWhileLoading.push(last.message);
        }
        return { rows: name === 'public.users' ? 0 : 1, bytes };
      },
      apply: async () => {},
      finish: async () => {},
      close: async () => {},
    };
    const driver = fakeDriver(target);
    await runRestore({
      repo,
      driver,
      plan: { snapshot, segments: [], untilMicros: undefined },
      targetUrl: 'fake://',
      jobs: 1,
      log,
    });
    await repo.close();
    expect(big.chunks.length).toBeGreaterThan(1);
    expect(seenWhileLoading[0]).toMatch(/^Loading public\.contacts: [\d.]+ [KM]iB of 6\.0 MiB read \(\d+%\), 0\/2 tables done$/);
    const pcts = log.events
      .filter((e) => e.event === 'restore.read')
      .map((e) => Number(/\((\d+)%\)/.exec(e.message)?.[1]));
    expect(pcts.at(-1)).toBe(100);
    expect(pcts).toEqual([...pcts].sort((a, b) => a - b));
  });
});
