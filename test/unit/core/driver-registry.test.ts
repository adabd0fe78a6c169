/**
 * The one list of drivers, and the guard that holds every driver to what it declares.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStream } from '../../../src/backup/stream-job.js';
import type { SourceDriver } from '../../../src/driver/source-driver.js';
import { driverByKind, driverEntries, driverFor } from '../../../src/driver/registry.js';
import { memoryLogger } from '../../../src/util/log.js';
import { ROOT } from '../../helpers/cli.js';
import { fakeDriver } from '../../helpers/fake-driver.js';
import { newRepo } from '../repository/helpers.js';

describe('the driver registry', () => {
  it('is the only place in src/ that names a database driver', async () => {
    const offenders: string[] = [];
    const kinds = driverEntries().map((d) => d.kind);
    async function walk(dir: string): Promise<void> {
      for (const e of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, e.name);
        if (e.isDirectory()) await walk(path);
        else if (e.name.endsWith('.ts') && path !== join(ROOT, 'src/driver/registry.ts')) {
          const text = await readFile(path, 'utf8');
          for (const k of kinds) if (text.includes(`'${k}'`)) offenders.push(`${path}: '${k}'`);
        }
      }
    }
    await walk(join(ROOT, 'src'));
    expect(offenders).toEqual([]);
  });

  it('loads each built driver under its own kind, and says which are not built yet', async () => {
    for (const entry of driverEntries()) {
      if (entry.load) {
        expect((await driverByKind(entry.kind)).kind).toBe(entry.kind);
        for (const scheme of entry.schemes)
          expect((await driverFor(`${scheme}://u@h/db`)).kind).toBe(entry.kind);
      } else {
        await expect(driverByKind(entry.kind)).rejects.toThrow(
          `The ${entry.label} driver is not built yet; this version backs up PostgreSQL, MySQL/MariaDB only.`,
        );
      }
    }
  });
});

describe('the driver guard', () => {
  it('refuses to stream from a driver without a change log, before the source is asked anything', async () => {
    const { repo } = await newRepo();
    let asked = 0;
    const source: SourceDriver = {
      kind: 'fake',
      preflight: async () => (asked++, []),
      openSnapshot: async () => {
        throw new Error('not reached');
      },
      openChangeLog: async () => {
        throw new Error('a driver without a change log was asked for one');
      },
      close: async () => {},
    };
    const driver = { ...fakeDriver(), openSource: async () => source };
    const err = await runStream({
      repo,
      driver,
      sourceUrl: 'fake://db',
      name: 'crm',
      segmentBytes: 1 << 20,
      segmentSeconds: 1,
      log: memoryLogger(),
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('The fake driver of this build cannot stream a change log.');
    expect(asked).toBe(0);
    expect(await repo.listSegments('crm')).toEqual([]);
    await repo.close();
  });
});
