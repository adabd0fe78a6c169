/**
 * restore --at a time the running stream has not stored yet, on a real PostgreSQL through the
 * real CLI: the refusal says how far the log is stored and that the stream runs and how often it
 * stores a segment; --wait waits for that segment, saying what it waits for, then restores
 * exactly; a time in the future is refused as such; once the stream stops, the refusal says so.
 *
 * The stream stores a segment only once 64 KiB of changes are in it (--segment-seconds is an
 * hour), so the test decides when the log grows instead of racing a timer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { cliProcess, runCli } from '../helpers/cli.js';
import { pgExec, serverNowMicros } from '../helpers/pitr.js';
import { formatMicros } from '../../src/util/time.js';

const SEED = `
CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO accounts SELECT g, 'account ' || g FROM generate_series(1, 100) g;
`;
/** Far more than --segment-bytes of changes in one transaction: the stream stores its segment. */
const BULK = `INSERT INTO accounts SELECT g, repeat(md5(g::text), 8) FROM generate_series(1001, 3000) g`;

/** The last line of a process's stderr, as the user reads the error. */
const lastLine = (stderr: string): string => stderr.trim().split('\n').at(-1) ?? '';

describe('restore --at while the stream has not stored the time yet (CLI)', () => {
  let dir: string;
  let source: TestDatabase;
  const dbs: TestDatabase[] = [];
  const env = (): Record<string, string> => ({
    CRM_BACKUP_REPO: join(dir, 'repo'),
    CRM_BACKUP_PASSWORD: 'wait password',
  });
  const target = async (): Promise<TestDatabase> => {
    const d = await createPgDatabase('wait_dst');
    dbs.push(d);
    return d;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crmb-wait-'));
    source = await createPgDatabase('wait_src');
    await pgExec(source.url, SEED);
    expect((await runCli(['init'], { env: env() })).code).toBe(0);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('says the stream runs, waits for it with --wait, refuses the future, and says when it stopped', async () => {
    const stream = cliProcess(
      [
        'stream',
        '--source',
        source.url,
        '--name',
        'wait',
        '--segment-seconds',
        '3600',
        '--segment-bytes',
        '65536',
      ],
      { env: env() },
    );
    let streamErr = '';
    stream.stderr.on('data', (d: Buffer) => (streamErr += d));
    const streamExit = new Promise<number | null>((r) => stream.on('close', (c) => r(c)));
    let stopped = false;
    try {
      while (!streamErr.includes('"stream.start"')) {
        if (stream.exitCode !== null) throw new Error(streamErr);
        await new Promise((r) => setTimeout(r, 100));
      }
      const snap = await runCli(['snapshot', '--source', source.url, '--name', 'wait'], { env: env() });
      expect(snap.code, snap.stderr).toBe(0);
      await pgExec(source.url, `UPDATE accounts SET name = name || ' (checked)' WHERE id % 7 = 0`);
      const expected = await pgTableChecksums(source.url);
      const at = formatMicros(await serverNowMicros(source.url));
      const running = `the stream of wait running on ${hostname()} (pid ${stream.pid}) stores a segment about every 3600 s`;

      const early = await runCli(['restore', '--target', (await target()).url, '--at', at], { env: env() });
      expect(early.code, early.stderr).toBe(1);
      expect(lastLine(early.stderr)).toBe(
        `crm-backup: The change log of wait holds no commit yet; ${at} is later, and ${running}: restore again then, or add --wait to wait for it.`,
      );

      const future = formatMicros((await serverNowMicros(source.url)) + 3_600_000_000n);
      const ahead = await runCli(['restore', '--target', (await target()).url, '--at', future, '--wait'], {
        env: env(),
      });
      expect(ahead.code, ahead.stderr).toBe(2);
      expect(lastLine(ahead.stderr)).toMatch(
        new RegExp(
          `^crm-backup: ${future.replace(/\./g, '\\.')} is in the future by this machine's clock \\(it reads [-0-9T:.]+Z\\): a restore can only reach commits that have happened\\.$`,
        ),
      );

      const waited = await target();
      const restore = cliProcess(['restore', '--target', waited.url, '--at', at, '--wait', '2m', '--json'], {
        env: env(),
      });
      let out = '';
      let err = '';
      restore.stdout.on('data', (d: Buffer) => (out += d));
      restore.stderr.on('data', (d: Buffer) => (err += d));
      const restoreExit = new Promise<number | null>((r) => restore.on('close', (c) => r(c)));
      while (!err.includes('"restore.wait"')) {
        if (restore.exitCode !== null) throw new Error(err);
        await new Promise((r) => setTimeout(r, 100));
      }
      const waiting = err
        .split('\n')
        .filter((l) => l.includes('"restore.wait"'))
        .map((l) => (JSON.parse(l) as { message: string }).message);
      expect(waiting).toEqual([
        `Waiting for the change log of wait to reach ${at}, for at most 2 min 0 s: it holds no commit yet, and the stream running on ${hostname()} (pid ${stream.pid}) stores a segment about every 3600 s.`,
      ]);
      await pgExec(source.url, BULK); // after the instant: it fills the segment, and is not restored
      expect(await restoreExit, err).toBe(0);
      expect(err).toContain('"restore.waited"');
      expect(JSON.parse(out)).toMatchObject({ snapshot: snap.stdout.trim() });
      expect(await pgTableChecksums(waited.url)).toEqual(expected);

      stream.kill('SIGTERM');
      stopped = true;
      expect(await streamExit).toBe(0);
      const later = formatMicros(await serverNowMicros(source.url));
      const after = await runCli(['restore', '--target', (await target()).url, '--at', later], {
        env: env(),
      });
      expect(after.code, after.stderr).toBe(1);
      expect(lastLine(after.stderr)).toMatch(
        new RegExp(
          `^crm-backup: The change log of wait is complete only up to [-0-9T:.]+Z; ${later.replace(/\./g, '\\.')} is later, and no stream of wait is running: start "crm-backup stream" and restore once it has stored a segment, or restore an earlier time\\.$`,
        ),
      );
    } finally {
      if (!stopped) {
        stream.kill('SIGTERM');
        await streamExit;
      }
    }
  });
});
