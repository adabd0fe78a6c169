/**
 * A writer SIGKILLed at random points leaves only unreferenced chunks: verify stays clean, no manifest
 * references a missing chunk, and the next run succeeds (a killed writer's shared lock does not block it).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../../src/storage/index.js';
import { openRepository, prune, verifyRepository } from '../../src/repository/index.js';
import { CHEAP, newRepo, PASSWORD, tempLocal } from '../unit/repository/helpers.js';

const WRITER = fileURLToPath(new URL('../unit/repository/crash-writer.ts', import.meta.url));
// Large enough that no writer can finish before its random kill time (up to 1.5 s after its first
// stored chunk) on a fast machine.
const MIB = 768;

/**
 * Runs one writer. With `killAfterMs`, the writer is SIGKILLed that long after it reported its first
 * stored bytes: by then it holds its shared lock, whatever the machine's load made the start-up cost.
 */
function runWriter(
  dir: string,
  seed: number,
  killAfterMs?: number,
): Promise<{ committed: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(MIB), String(seed)], {
      env: { ...process.env, CRMB_TEST_PASSWORD: PASSWORD.reveal() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (killAfterMs !== undefined && timer === undefined && output.includes('progress ')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ committed: output.includes('committed '), output });
    });
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
});

describe('crash safety (local folder, SIGKILL)', () => {
  it('leaves a verifiable repository after kills at random points, and the next run commits', async () => {
    const local = await tempLocal();
    cleanups.push(local.cleanup);
    const { repo } = await newRepo(CHEAP, local.storage);
    await repo.close();
    const dir = local.storage.location;
    let killedMidway = 0;
    for (let i = 0; i < 4; i++) {
      const r = await runWriter(dir, i, Math.floor(Math.random() * 1500));
      if (!r.committed) killedMidway++;
      const check = await openRepository(await LocalBackend.open(dir), PASSWORD, { workers: 0 });
      const report = await verifyRepository(check, { readData: true });
      expect(report.problems).toEqual([]);
      await check.close();
    }
    // Every writer was killed while it held its lock, long before it could store 768 MiB.
    expect(killedMidway).toBe(4);
    const done = await runWriter(dir, 99);
    expect(done.output).toContain('committed ');
    const after = await openRepository(await LocalBackend.open(dir), PASSWORD, {
      workers: 0,
      locks: { staleMs: 0 },
    });
    expect((await after.listSnapshots({ source: 'crash' })).length).toBeGreaterThanOrEqual(1);
    // The killed writers' chunks are garbage; prune (their locks are stale by now with staleMs 0) removes them.
    const pruned = await prune(after, { graceMs: 0 });
    expect(pruned.removedStaleLocks).toBeGreaterThanOrEqual(killedMidway);
    expect((await verifyRepository(after, { readData: true })).ok).toBe(true);
    await after.close();
  });
});
