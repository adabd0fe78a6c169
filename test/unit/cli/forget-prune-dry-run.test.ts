/**
 * `forget --prune --dry-run` through the real CLI (issue #10 item 8): it lists the snapshots and
 * log segments forget would remove and the chunks and bytes prune would free, in text and as one
 * JSON document, deletes nothing, and the real run then frees exactly that.
 */
import { readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StreamRef } from '../../../src/repository/index.js';
import { runCli } from '../../helpers/cli.js';
import { segmentOf, snapshotOf, SMALL_CHUNKS } from '../repository/fixtures.js';
import { crmStream, newRepo, PASSWORD, tempLocal } from '../repository/helpers.js';

const EMPTY: StreamRef = { chunks: [], sizes: [], bytes: 0 };
/** PostgreSQL positions as the driver writes them (16 hex digits). */
const pos = (n: number): string => n.toString(16).toUpperCase().padStart(16, '0');
let local: Awaited<ReturnType<typeof tempLocal>>;
/** Chunks of the snapshot and the log segment that forget removes. */
let freed: number;

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out;
}

const env = (): Record<string, string> => ({
  CRM_BACKUP_REPO: join(local.dir, 'repo'),
  CRM_BACKUP_PASSWORD: PASSWORD.reveal(),
});

beforeAll(async () => {
  local = await tempLocal();
  const { repo } = await newRepo(SMALL_CHUNKS, local.storage);
  const day = (d: number, h = 0): Date => new Date(Date.UTC(2025, 0, d, h));
  const forgotten = await repo.writeStream(crmStream(60_000, 1));
  await repo.commitSnapshot(snapshotOf('crm', day(1), { 'public.contacts': forgotten }, EMPTY, pos(0x100)));
  const log = await repo.writeStream(crmStream(20_000, 500_000));
  freed = new Set([...forgotten.chunks, ...log.chunks]).size;
  await repo.commitSegment(segmentOf('crm', day(1, 1), day(1, 23), log, { from: pos(0x100), first: pos(0x110), last: pos(0x1f0) }));
  const kept = await repo.writeStream(crmStream(60_000, 1_000_000));
  await repo.commitSnapshot(snapshotOf('crm', day(2), { 'public.contacts': kept }, EMPTY, pos(0x200)));
  await repo.close();
  // written two days ago: older than the default grace period of 24 h
  const then = new Date(Date.now() - 2 * 86_400_000);
  for (const f of await files(join(local.dir, 'repo', 'data'))) await utimes(f, then, then);
});

afterAll(async () => {
  await local?.cleanup();
});

describe('forget --prune --dry-run', () => {
  it('lists what would go and what it frees, as text and as JSON, deletes nothing, and the real run frees exactly that', async () => {
    const before = await files(join(local.dir, 'repo'));
    const text = await runCli(['forget', '--keep-last', '1', '--prune', '--dry-run'], { env: env() });
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Would remove 1 snapshots and 1 log segments; kept 1 snapshots.');
    expect(lines[1]).toMatch(/^ {2}snapshot [0-9a-f]{12} of crm, consistent at 2025-01-01T00:00:00\.000Z$/);
    expect(lines[2]).toBe(
      '  1 log segments of crm, commits from 2025-01-01T01:00:00.000000Z to 2025-01-01T23:00:00.000000Z',
    );
    expect(lines[3]).toMatch(
      new RegExp(
        `^Would prune ${freed} unreferenced chunks \\(\\d+\\.\\d KiB\\); would keep 0 chunks younger than the 24 h grace period\\.$`,
      ),
    );
    expect(lines).toHaveLength(4);

    const json = await runCli(['forget', '--keep-last', '1', '--prune', '--dry-run', '--json'], { env: env() });
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      removed: { snapshot: { consistentAt: string } }[];
      removedSegments: unknown[];
      prune: { dryRun: boolean; deletedChunks: number; deletedBytes: number; keptYoungChunks: number; graceMs: number };
    };
    expect(doc.removed.map((r) => r.snapshot.consistentAt)).toEqual(['2025-01-01T00:00:00.000Z']);
    expect(doc.removedSegments).toHaveLength(1);
    expect(doc.prune).toMatchObject({ dryRun: true, keptYoungChunks: 0, graceMs: 86_400_000 });
    expect(doc.prune.deletedChunks).toBe(freed);
    expect(await files(join(local.dir, 'repo'))).toEqual(before);

    const real = await runCli(['forget', '--keep-last', '1', '--prune'], { env: env() });
    expect(real.code, real.stderr).toBe(0);
    const said = real.stdout.trimEnd().split('\n');
    expect(said[0]).toBe('Removed 1 snapshots and 1 log segments; kept 1 snapshots.');
    // the same chunks and bytes as the dry run announced, and the grace period in force
    expect(said[3]).toBe(lines[3]!.replace('Would prune', 'Pruned').replace('would keep', 'kept'));
    expect((await files(join(local.dir, 'repo', 'data'))).length).toBe(
      before.filter((f) => f.includes(`${join('repo', 'data')}/`)).length - doc.prune.deletedChunks,
    );
  });
});
