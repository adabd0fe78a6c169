/**
 * copy between two repositories with their own passwords and chunkers, in memory, with the fake
 * driver: what is restored from the copy is what is restored from the original; a run cut short
 * leaves a consistent prefix and the next run completes it; a run with nothing new writes nothing;
 * copies of copies are recognised by their origin.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCopy, type CopyRequest } from '../../../src/copy/copy-job.js';
import { initRepository, verifyRepository, type Repository } from '../../../src/repository/index.js';
import { restore, type RestoreTarget } from '../../../src/restore/restore.js';
import { CountingBackend } from '../../../src/storage/counting-backend.js';
import { AbortError, RestoreRefusedError, UsageError } from '../../../src/util/errors.js';
import { memoryLogger, type Logger } from '../../../src/util/log.js';
import { Secret } from '../../../src/util/redact.js';
import { fakeDriver, fakeTarget, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSegment, fakeSnapshot, S, T0, txs } from '../../helpers/fake-repo.js';
import { CHEAP, newRepo } from '../repository/helpers.js';
import { MemoryBackend } from '../repository/memory-backend.js';

const drivers = onlyDriver(fakeDriver());
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

async function cacheDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'crmb-copy-cache-'));
  dirs.push(d);
  return d;
}

/** A destination with its own password and chunker, its writes counted. */
async function destination(): Promise<{ repo: Repository; storage: CountingBackend; mem: MemoryBackend }> {
  const mem = new MemoryBackend('memory://copy');
  const storage = new CountingBackend(mem);
  const repo = await initRepository(storage, new Secret('another password'), {
    ...CHEAP,
    workers: 0,
    chunker: { min: 512, avg: 1024, max: 4096 },
  });
  return { repo, storage, mem };
}

/** Snapshot at 9 (second 0); log 9→99 (10–13), 99→999 (20–23), 999→1500 (30–32); a snapshot at 999 (second 25). */
async function source(): Promise<Repository> {
  return fill((await newRepo()).repo);
}

async function fill(repo: Repository): Promise<Repository> {
  await fakeSnapshot(repo, { position: 9, second: 0, tables: ['a', 'b'] });
  await fakeSegment(repo, 9, txs([10, 11, 50, 99], 10));
  await fakeSegment(repo, 99, txs([100, 250, 700, 999], 20));
  await fakeSnapshot(repo, { position: 999, second: 25, tables: ['a', 'b', 'c'] });
  await fakeSegment(repo, 999, txs([1000, 1200, 1500], 30));
  return repo;
}

function copy(from: Repository, to: Repository, more: Partial<CopyRequest> = {}) {
  return runCopy({ from, to, log: memoryLogger(), drivers, ...more });
}

async function restored(repo: Repository, target: RestoreTarget) {
  const t = fakeTarget();
  await restore({ repo, targetUrl: 'fake://restored', target, jobs: 1, log: memoryLogger(), drivers: onlyDriver(fakeDriver(t)) });
  return { loaded: [...t.loaded].sort(), applied: t.applied.map((x) => x.position) };
}

const AT = [T0 + 12n * S, T0 + 22n * S, T0 + 31n * S];

describe('copy', () => {
  it('copies every snapshot and segment; restores from the copy equal those from the original', async () => {
    const a = await source();
    const b = await destination();
    const summary = await copy(a, b.repo, { written: () => b.storage.counts() });
    expect(summary).toMatchObject({ snapshots: 2, segments: 3, alreadyThere: 0, tooOld: 0, damaged: [] });
    expect(summary.objectsWritten).toBeGreaterThan(5);
    for (const micros of AT)
      expect(await restored(b.repo, { kind: 'time', micros })).toEqual(await restored(a, { kind: 'time', micros }));
    expect(await restored(b.repo, { kind: 'latest' })).toEqual(await restored(a, { kind: 'latest' }));
    const report = await verifyRepository(b.repo, { readData: true });
    expect(report.problems).toEqual([]);
    expect(report.checked).toMatchObject({ snapshots: 2, segments: 3 });
    const origins = (await b.repo.listSnapshots()).map((s) => s.origin);
    expect(origins).toEqual((await a.listSnapshots()).map((s) => ({ repository: a.id, id: s.id })));
  });

  it('a second run with nothing new copies nothing, writes nothing, and with its cache reads no manifest', async () => {
    const a = await source();
    const b = await destination();
    const dir = await cacheDir();
    await copy(a, b.repo, { cacheDir: dir, written: () => b.storage.counts() });
    const before = b.storage.counts();
    const idle = await copy(a, b.repo, { cacheDir: dir, written: () => b.storage.counts() });
    expect(idle).toMatchObject({ snapshots: 0, segments: 0, alreadyThere: 5, objectsWritten: 0, bytesWritten: 0, manifestsRead: 0 });
    expect(b.storage.counts()).toEqual(before);
    // without the cache the same answer, from the manifests of both (5 + 5)
    const uncached = await copy(a, b.repo);
    expect(uncached).toMatchObject({ snapshots: 0, segments: 0, alreadyThere: 5, manifestsRead: 10 });
    expect(b.storage.counts()).toEqual(before);
  });

  it('a cache that was edited is not trusted: the manifests are read again', async () => {
    const a = await source();
    const b = await destination();
    const dir = await cacheDir();
    await copy(a, b.repo, { cacheDir: dir });
    // an edited cache claiming that a snapshot of the copy is the new segment: trusted, it would not be copied
    const added = await fakeSegment(a, 1500, txs([1600], 40));
    const [first] = await b.repo.listSnapshots();
    const entries = { [`snapshot/${first!.id}`]: { origin: `${a.id}:${added}`, source: 'x' } };
    const forged = { version: 1, repository: b.repo.id, entries, digest: '0'.repeat(64) };
    await writeFile(join(dir, `${b.repo.id}.json`), JSON.stringify(forged));
    const run = await copy(a, b.repo, { cacheDir: dir });
    expect(run).toMatchObject({ segments: 1, alreadyThere: 5 });
  });

  it('interrupted after its first segment, it leaves a consistent prefix; the next run completes it', async () => {
    const a = await source();
    const b = await destination();
    const stop = new AbortController();
    const log = abortOn('copy.segment', stop);
    await expect(copy(a, b.repo, { log, signal: stop.signal })).rejects.toBeInstanceOf(AbortError);
    expect((await b.repo.listSnapshots()).length).toBe(1);
    expect((await b.repo.listSegments('crm')).length).toBe(1);
    // the copy holds the log up to second 13: an instant after that is refused, not restored short
    await expect(restored(b.repo, { kind: 'time', micros: AT[0]! })).resolves.toEqual(
      await restored(a, { kind: 'time', micros: AT[0]! }),
    );
    await expect(restored(b.repo, { kind: 'time', micros: AT[2]! })).rejects.toBeInstanceOf(RestoreRefusedError);
    const rest = await copy(a, b.repo);
    expect(rest).toMatchObject({ snapshots: 1, segments: 2, alreadyThere: 2 });
    for (const micros of AT)
      expect(await restored(b.repo, { kind: 'time', micros })).toEqual(await restored(a, { kind: 'time', micros }));
  });

  it('keeps a gap of the log: a restore into it is refused from the copy as from the original', async () => {
    const { repo: a } = await newRepo();
    await fakeSnapshot(a, { position: 9, second: 0 });
    await fakeSegment(a, 9, txs([10, 99], 10));
    await fakeSegment(a, 500, txs([600, 700], 20));
    const b = await destination();
    await copy(a, b.repo);
    const into = { kind: 'time', micros: T0 + 20n * S } as const;
    const refusal = (repo: Repository): Promise<string> =>
      restored(repo, into).then(
        () => 'restored',
        (e: Error) => e.message,
      );
    const fromA = await refusal(a);
    const fromB = await refusal(b.repo);
    expect(fromA).toMatch(/gap between position 99 .* and position 500/);
    expect(fromB.replace(/snapshot \w+/, 'snapshot X')).toBe(fromA.replace(/snapshot \w+/, 'snapshot X'));
  });

  it('skips what is damaged in the source, copies the rest, and says so', async () => {
    const { repo: a, storage } = await newRepo();
    await fill(a);
    const middle = (await a.listSegments('crm')).find((g) => g.fromPosition === '99')!;
    const chunk = middle.data.chunks[0]!;
    const object = (storage as MemoryBackend).objects.get(`data/${chunk.slice(0, 2)}/${chunk}`)!;
    const last = object.data.length - 1;
    object.data[last] = object.data[last]! ^ 1;
    const b = await destination();
    const run = await copy(a, b.repo);
    expect(run).toMatchObject({ snapshots: 2, segments: 2, damaged: [`segment ${middle.id}`] });
    // the copy lacks what the original cannot give either: the log across the damage
    await expect(restored(b.repo, { kind: 'time', micros: AT[1]! })).rejects.toThrow(/gap between position 99/);
    expect(await restored(b.repo, { kind: 'time', micros: AT[2]! })).toEqual(await restored(a, { kind: 'time', micros: AT[2]! }));
  });

  it('recognises copies of copies: back to the original, and A to B to C then A to C, copy nothing', async () => {
    const a = await source();
    const b = await destination();
    const c = await destination();
    await copy(a, b.repo);
    expect(await copy(b.repo, a)).toMatchObject({ snapshots: 0, segments: 0, alreadyThere: 5 });
    await copy(b.repo, c.repo);
    expect(await copy(a, c.repo)).toMatchObject({ snapshots: 0, segments: 0, alreadyThere: 5 });
    expect((await c.repo.listSnapshots()).map((s) => s.origin?.repository)).toEqual([a.id, a.id]);
  });

  it('--name copies only that source, refuses one the repository does not hold; same repository refused', async () => {
    const a = await source();
    await fakeSnapshot(a, { position: 5, second: 3, source: 'other' });
    const b = await destination();
    expect(await copy(a, b.repo, { sources: ['other'] })).toMatchObject({ snapshots: 1, segments: 0 });
    expect(await b.repo.sources()).toEqual(['other']);
    await expect(copy(a, b.repo, { sources: ['crn'] })).rejects.toThrow(
      new UsageError(`memory://test holds no snapshot or log segment of "crn"; "crm-backup list --repo memory://test" shows its sources (nothing was copied).`),
    );
    await expect(copy(a, a)).rejects.toBeInstanceOf(UsageError);
  });

  it('--since copies the newer snapshot and the log it needs', async () => {
    const a = await source();
    const b = await destination();
    const run = await copy(a, b.repo, { sinceMicros: T0 + 24n * S });
    expect(run).toMatchObject({ snapshots: 1, segments: 1, tooOld: 3 });
    expect(await restored(b.repo, { kind: 'time', micros: AT[2]! })).toEqual(await restored(a, { kind: 'time', micros: AT[2]! }));
  });
});

function abortOn(event: string, stop: AbortController): Logger {
  const log = memoryLogger();
  return {
    ...log,
    info: (e, m, f) => {
      log.info(e, m, f);
      if (e === event) stop.abort();
    },
  };
}
