/**
 * `crm-backup copy` as an operator runs it, on a real PostgreSQL and the real CLI: a local
 * repository with two snapshots and a streamed log under a workload is copied to S3 (the loopback
 * server) with another password; the copy is SIGKILLed after its first copied item and run again;
 * `verify --read-data` passes on the destination, and restores from it (--at a checkpoint and
 * --latest) equal those from the original by per-table checksums; a run with nothing new copies
 * and writes nothing; copying back to the original copies nothing; and S3 is copied back to a new
 * local repository, which restores the same again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { pgTableChecksums, type TableChecksum } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import type { CopySummary } from '../../src/copy/copy-job.js';
import { initRepository, type Repository } from '../../src/repository/index.js';
import { LocalBackend } from '../../src/storage/local-backend.js';
import { S3Backend } from '../../src/storage/s3-backend.js';
import { Secret } from '../../src/util/redact.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { startS3Server, type S3TestServer } from '../harness/s3-server.js';
import { waitFor } from '../harness/util.js';
import { cliProcess, runCli, type CliResult } from '../helpers/cli.js';
import {
  FAST_SCRYPT,
  restoreInto,
  serverNowMicros,
  startStream,
  takeSnapshot,
  tempRepo,
  TEST_PASSWORD,
  type TempRepo,
} from '../helpers/pitr.js';

const NAME = 'crm';
const S3_PASSWORD = 'a different password for the copy';
const BACK_PASSWORD = 'and a third one for the copy back';

describe('crm-backup copy, local to S3 and back, on PostgreSQL', () => {
  let source: TestDatabase;
  let local: TempRepo;
  let s3: S3TestServer;
  let s3Url: string;
  let s3Repo: Repository;
  let cache: string;
  let back: string;
  const targets: TestDatabase[] = [];
  let checkpoint: { at: bigint; sums: Record<string, TableChecksum> };

  /** The destination's S3 settings as CRM_BACKUP_TO_AWS_*, so the source's (none) stay apart. */
  const toS3 = (): Record<string, string> =>
    Object.fromEntries(Object.entries(s3.env).map(([k, v]) => [`CRM_BACKUP_TO_${k}`, v]));
  const localToS3 = (): Record<string, string | undefined> => ({
    CRM_BACKUP_PASSWORD: TEST_PASSWORD,
    CRM_BACKUP_TO_PASSWORD: S3_PASSWORD,
    XDG_CACHE_HOME: cache,
    ...toS3(),
  });
  const copyArgs = (): string[] => ['copy', '--repo', local.dir, '--to', s3Url, '--json'];
  const summaryOf = (r: CliResult): CopySummary => {
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as CopySummary;
  };
  const target = async (): Promise<TestDatabase> => {
    const t = await createPgDatabase('copy_dst');
    targets.push(t);
    return t;
  };
  const restoredSums = async (repo: Repository, at: { kind: 'time'; micros: bigint } | { kind: 'latest' }) => {
    const t = await target();
    await restoreInto(repo, driver, NAME, at, t.url);
    return pgTableChecksums(t.url);
  };
  /** Every object of the S3 repository with its size and time: what a run wrote shows here. */
  const s3Objects = async (): Promise<string[]> => {
    const b = new S3Backend(s3Url, { env: s3.env });
    const out: string[] = [];
    for await (const o of b.list('')) out.push(`${o.key} ${o.size} ${o.modified.toISOString()}`);
    await b.close?.();
    return out.sort();
  };

  beforeAll(async () => {
    source = await createPgDatabase('copy_src');
    await seedCrm(source.url, { scale: 0.01, seed: 7 });
    local = await tempRepo();
    cache = await mkdtemp(join(tmpdir(), 'crmb-copy-cache-'));
    back = await mkdtemp(join(tmpdir(), 'crmb-copy-back-'));
    s3 = await startS3Server();
    s3Url = `${s3.url}/copy`;
    s3Repo = await initRepository(new S3Backend(s3Url, { env: s3.env }), new Secret(S3_PASSWORD), { scrypt: FAST_SCRYPT });
    // two snapshots, the log between and after them, written under a workload
    const stream = startStream(local.repo, driver, source.url, NAME);
    await stream.started;
    await takeSnapshot(local.repo, driver, source.url, NAME);
    await runWorkload(source.url, { ratePerSecond: 200, durationMs: 2500, seed: 1 });
    checkpoint = { sums: await pgTableChecksums(source.url), at: await serverNowMicros(source.url) };
    await takeSnapshot(local.repo, driver, source.url, NAME);
    await runWorkload(source.url, { ratePerSecond: 200, durationMs: 2500, seed: 2 });
    await stream.waitCovered(await serverNowMicros(source.url));
    await stream.stop();
  }, 240_000);

  afterAll(async () => {
    for (const t of targets) await t.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await s3Repo?.close().catch(() => {});
    await local?.dispose();
    await s3?.stop();
    for (const d of [cache, back]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('killed after its first copied item, resumed; verify passes and restores from S3 equal the original', async () => {
    const snapshots = (await local.repo.listSnapshots()).length;
    const segments = (await local.repo.listSegments(NAME)).length;
    expect(snapshots).toBe(2);
    expect(segments).toBeGreaterThanOrEqual(4);

    const child = cliProcess(copyArgs(), { env: localToS3() });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((r) => child.on('close', (_code, signal) => r(signal)));
    await waitFor(
      () => {
        if (/"event":"copy\.(snapshot|segment)"/.test(stderr)) return true;
        if (child.exitCode !== null) throw new Error(`copy exited before copying anything: ${stderr}`);
        return false;
      },
      'the copy to report its first copied item',
      120_000,
    );
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const held = { snapshots: (await s3Repo.listSnapshots()).length, segments: (await s3Repo.listSegments(NAME)).length };
    // half way: something committed, not everything
    expect(held.snapshots + held.segments).toBeGreaterThan(0);
    expect(held.snapshots + held.segments).toBeLessThan(snapshots + segments);

    const resumed = summaryOf(await runCli(copyArgs(), { env: localToS3() }));
    expect(resumed.snapshots + resumed.segments).toBe(snapshots + segments - held.snapshots - held.segments);
    expect(resumed.alreadyThere).toBe(held.snapshots + held.segments);
    expect(resumed.bytesRead).toBeGreaterThan(0);

    const verify = await runCli(['verify', '--read-data', '--repo', s3Url], {
      env: { CRM_BACKUP_PASSWORD: S3_PASSWORD, ...s3.env },
    });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('No damage found.');

    const at = { kind: 'time', micros: checkpoint.at } as const;
    const fromS3 = await restoredSums(s3Repo, at);
    expect(fromS3).toEqual(checkpoint.sums);
    expect(fromS3).toEqual(await restoredSums(local.repo, at));
    expect(await restoredSums(s3Repo, { kind: 'latest' })).toEqual(await restoredSums(local.repo, { kind: 'latest' }));
  }, 300_000);

  it('with nothing new: copies nothing and writes nothing; copying back to the original copies nothing', async () => {
    const before = await s3Objects();
    const idle = summaryOf(await runCli(copyArgs(), { env: localToS3() }));
    expect(idle).toMatchObject({ snapshots: 0, segments: 0, objectsWritten: 0, bytesWritten: 0, manifestsRead: 0 });
    expect(await s3Objects()).toEqual(before);

    const home = summaryOf(
      await runCli(['copy', '--repo', s3Url, '--to', local.dir, '--json'], {
        env: { CRM_BACKUP_PASSWORD: S3_PASSWORD, CRM_BACKUP_TO_PASSWORD: TEST_PASSWORD, XDG_CACHE_HOME: cache, ...s3.env },
      }),
    );
    expect(home).toMatchObject({ snapshots: 0, segments: 0, objectsWritten: 0 });
    expect(home.alreadyThere).toBe(idle.alreadyThere);
  }, 120_000);

  it('copies S3 back to a new local repository that restores the same', async () => {
    const repo = await initRepository(await LocalBackend.open(back), new Secret(BACK_PASSWORD), { scrypt: FAST_SCRYPT });
    const r = summaryOf(
      await runCli(['copy', '--repo', s3Url, '--to', back, '--json'], {
        env: { CRM_BACKUP_PASSWORD: S3_PASSWORD, CRM_BACKUP_TO_PASSWORD: BACK_PASSWORD, XDG_CACHE_HOME: cache, ...s3.env },
      }),
    );
    expect(r.snapshots).toBe(2);
    const at = { kind: 'time', micros: checkpoint.at } as const;
    expect(await restoredSums(repo, at)).toEqual(checkpoint.sums);
    expect((await repo.listSnapshots()).map((s) => s.origin?.repository)).toEqual([local.repo.id, local.repo.id]);
    await repo.close();
  }, 180_000);
});
