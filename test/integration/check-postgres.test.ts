/**
 * `crm-backup check` as monitoring runs it, on a real PostgreSQL and the real CLI: healthy with a
 * snapshot and a live stream, then unhealthy for each reason (snapshot too old, stream stopped,
 * gap in the log) with the exact sentence and exit code, and the --prometheus file read back by a
 * strict parser of the text format. Every wait is for the event asserted on, never a fixed sleep.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, pgQuery, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { streamProcess, tempRepo, TEST_PASSWORD, type TempRepo } from '../helpers/pitr.js';
import { parsePrometheusText, promValue } from '../helpers/prometheus-text.js';

const NAME = 'crm';

interface CheckJson {
  ok: boolean;
  problems: string[];
  sources: Array<{
    source: string;
    newestSnapshot: { id: string; consistentAt: string; sourceUrl: string } | null;
    streams: Array<{ pid: number }>;
    recoveryPoint: string | null;
    restorable: Array<{ from: string; to: string }>;
    gaps: Array<{ after: string; afterTime: string | null; before: string; beforeTime: string | null }>;
    checks: Array<{ check: string; status: string; message: string }>;
  }>;
}

/** An age as check prints it: `14s`, `5m 12s`, `1d 2h`. */
const AGE = String.raw`\d+[dhms]( \d+[hms])?`;
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('crm-backup check on PostgreSQL', () => {
  let source: TestDatabase;
  let tr: TempRepo;
  let stream: ReturnType<typeof streamProcess> | undefined;
  let promDir: string;
  let prom: string;
  /** The source URL as the snapshot recorded it (redacted). */
  let sourceUrl: string;
  const env = (): Record<string, string> => ({ CRM_BACKUP_REPO: tr.dir, CRM_BACKUP_PASSWORD: TEST_PASSWORD });
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env: env() });
  const checkJson = async (args: string[] = []): Promise<{ r: CliResult; json: CheckJson }> => {
    const r = await cli(['check', '--json', ...args]);
    return { r, json: JSON.parse(r.stdout) as CheckJson };
  };
  const metrics = async () => parsePrometheusText(await readFile(prom, 'utf8'));
  const startStream = async (): Promise<void> => {
    stream = streamProcess(source.url, tr.dir, NAME);
    await stream.started;
  };
  const stopStream = async (): Promise<void> => {
    stream!.child.kill('SIGTERM');
    expect(await stream!.exited, stream!.stderr()).toBe(0);
    stream = undefined;
  };

  beforeAll(async () => {
    source = await createPgDatabase('check_src');
    await pgQuery(source.url, 'CREATE TABLE contacts (id int PRIMARY KEY, name text)');
    tr = await tempRepo();
    promDir = await mkdtemp(join(tmpdir(), 'crmb-textfile-'));
    prom = join(promDir, 'crm-backup.prom');
  });
  afterAll(async () => {
    if (stream) {
      stream.child.kill('SIGKILL');
      await stream.exited;
    }
    await source?.drop().catch(() => {});
    await tr?.dispose();
    await rm(promDir, { recursive: true, force: true });
  });

  it('says an empty repository holds nothing, and refuses a threshold it cannot read', async () => {
    const empty = await cli(['check']);
    expect(empty.code, empty.stderr).toBe(4);
    expect(empty.stdout).toContain(
      `FAIL  The repository at ${tr.dir} holds no backups yet: start the stream (crm-backup stream --source URL --name NAME) and take a snapshot (crm-backup snapshot --source URL --name NAME).`,
    );
    const bad = await cli(['check', '--max-log-lag', '5 minutes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim()).toBe(
      'crm-backup: --max-log-lag takes a duration like 90s, 15m, 26h or 2d, not "5 minutes".',
    );
    // a repository it cannot open: exit 1, and the metrics file says so to the collector
    const wrong = await runCli(['check', '--prometheus', prom], {
      env: { ...env(), CRM_BACKUP_PASSWORD: 'not the password' },
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe(
      `crm-backup: The password does not open any key of the repository at ${tr.dir}.`,
    );
    expect(promValue(await metrics(), 'crmb_repository_up')).toBe(0);
  });

  it('passes with a snapshot and a live stream, and writes the metrics', async () => {
    await startStream();
    const snap = await cli(['snapshot', '--source', source.url, '--name', NAME]);
    expect(snap.code, snap.stderr).toBe(0);
    const id = snap.stdout.trim();
    await pgQuery(source.url, "INSERT INTO contacts VALUES (1, 'Ada')");
    // the stream has stored the log past the snapshot: a window is restorable
    const { r, json } = await waitFor(
      async () => {
        const c = await checkJson();
        return c.json.sources[0]?.restorable.length ? c : undefined;
      },
      'a restorable window',
      90_000,
      200,
    );
    expect(r.code, r.stdout).toBe(0);
    expect(json.ok).toBe(true);
    const [src] = json.sources;
    expect(src!.newestSnapshot!.id).toBe(id);
    sourceUrl = src!.newestSnapshot!.sourceUrl;
    expect(src!.checks.map((c) => [c.check, c.status])).toEqual([
      ['snapshot', 'ok'],
      ['stream', 'ok'],
      ['log', 'ok'],
      ['gap', 'ok'],
      // no drill recorded and no --max-drill-age: nothing to judge
      ['drill', 'skipped'],
    ]);
    expect(src!.checks[1]!.message).toMatch(
      new RegExp(
        `^running as pid ${stream!.child.pid} on \\S+, stores a segment every 1 s, lock refreshed ${AGE} ago$`,
      ),
    );

    const human = await cli(['check', '--prometheus', prom]);
    expect(human.code, human.stdout).toBe(0);
    expect(human.stdout).toContain(`Source ${NAME} (postgres)`);
    expect(human.stdout).toMatch(/ {2}restorable to any time from \S+ to \S+\n/);
    expect(human.stdout.trim().split('\n').at(-1)).toBe('All checks passed (1 source).');
    const m = await metrics();
    expect(promValue(m, 'crmb_repository_up')).toBe(1);
    expect(promValue(m, 'crmb_checks_failed')).toBe(0);
    expect(promValue(m, 'crmb_sources')).toBe(1);
    expect(promValue(m, 'crmb_stream_up', { source: NAME })).toBe(1);
    expect(promValue(m, 'crmb_gap_count', { source: NAME })).toBe(0);
    expect(promValue(m, 'crmb_snapshots', { source: NAME })).toBe(1);
    const consistentAt = src!.newestSnapshot!.consistentAt; // 2026-…T…:…:…123456Z
    expect(promValue(m, 'crmb_newest_snapshot_timestamp_seconds', { source: NAME })).toBeCloseTo(
      Date.parse(consistentAt) / 1000 + Number(consistentAt.slice(23, 26)) / 1e6,
      6,
    );
    expect(promValue(m, 'crmb_snapshot_age_seconds', { source: NAME })).toBeGreaterThan(0);
    expect(promValue(m, 'crmb_log_lag_seconds', { source: NAME })).toBeLessThan(300);
    for (const check of ['snapshot', 'stream', 'log', 'gap'])
      expect(promValue(m, 'crmb_check_passed', { source: NAME, check })).toBe(1);
    // the temp file was renamed over the metrics file, nothing left beside it
    expect(await readdir(promDir)).toEqual(['crm-backup.prom']);
  });

  it('fails a snapshot older than --max-snapshot-age with its sentence, exit 4', async () => {
    const { json } = await checkJson();
    const snap = json.sources[0]!.newestSnapshot!;
    const takenMs = Date.parse(snap.consistentAt);
    await waitFor(() => Date.now() > takenMs + 1500, 'the snapshot to be more than 1 s old', 10_000);
    const r = await cli(['check', '--max-snapshot-age', '1s']);
    expect(r.code, r.stdout).toBe(4);
    expect(r.stdout).toMatch(
      new RegExp(
        `\\n {2}FAIL {2}snapshot {2}${escape(`The newest full snapshot ${snap.id.slice(0, 12)} taken at ${snap.consistentAt}, `)}${AGE}${escape(` ago, is older than --max-snapshot-age 1s: find in its log why the scheduled snapshot did not run, then take one (crm-backup snapshot --source ${snap.sourceUrl} --name ${NAME}).`)}\\n`,
      ),
    );
    expect(r.stdout.trim().split('\n').at(-1)).toBe('1 check failed.');
    // the password never shows: the URL is the one the snapshot recorded, redacted
    expect(r.stdout).not.toContain(TEST_PASSWORD);
  });

  it('fails a source whose stream stopped, exit 4, and CRITICAL for Nagios', async () => {
    await stopStream();
    const r = await cli(['check', '--prometheus', prom]);
    expect(r.code, r.stdout).toBe(4);
    const sentence = new RegExp(
      `No stream of ${NAME} is running \\(no live stream lock in the repository; its newest log segment was stored ${AGE} ago\\), so no change made since is backed up: find in the stream's log why it stopped, then start it again \\(crm-backup stream --source ${escape(sourceUrl)} --name ${NAME}\\)\\.`,
    );
    expect(r.stdout).toMatch(new RegExp(`\\n {2}FAIL {2}stream {4}${sentence.source}\\n`));
    const m = await metrics();
    expect(promValue(m, 'crmb_stream_up', { source: NAME })).toBe(0);
    expect(promValue(m, 'crmb_check_passed', { source: NAME, check: 'stream' })).toBe(0);
    expect(promValue(m, 'crmb_checks_failed')).toBe(1);
    // with nothing writing, the repository's size is exactly what its folder holds
    let bytes = 0;
    const walk = async (dir: string): Promise<void> => {
      for (const e of await readdir(dir, { withFileTypes: true }))
        if (e.isDirectory()) await walk(join(dir, e.name));
        else bytes += (await stat(join(dir, e.name))).size;
    };
    await walk(tr.dir);
    expect(promValue(m, 'crmb_repository_bytes')).toBe(bytes);

    const nagios = await cli(['check', '--nagios']);
    expect(nagios.code).toBe(2);
    expect(nagios.stdout).toMatch(new RegExp(`^CRM-BACKUP CRITICAL - ${sentence.source}\\n$`));
  });

  it('fails a gap in the log after the newest snapshot with its positions and times, until a new snapshot', async () => {
    // the server forgets what the stopped stream has not read: its slot is dropped
    await waitFor(
      async () => (await cli(['stream', '--drop', '--source', source.url, '--name', NAME])).code === 0,
      'the stopped stream slot to be dropped',
      30_000,
      200,
    );
    await pgQuery(source.url, "INSERT INTO contacts VALUES (2, 'lost')");
    await startStream();
    const gapLine =
      /The source can only continue from (\S+), after the last stored position (\S+); restores into that gap will be refused\./.exec(
        stream!.stderr(),
      );
    expect(gapLine, stream!.stderr()).not.toBeNull();
    const [, continuesFrom, lastStored] = gapLine!;
    await pgQuery(source.url, "INSERT INTO contacts VALUES (3, 'after')");
    const { r, json } = await waitFor(
      async () => {
        const c = await checkJson();
        return c.json.sources[0]?.gaps.length ? c : undefined;
      },
      'the resumed stream to store a segment after the gap',
      90_000,
      200,
    );
    expect(r.code).toBe(4);
    const src = json.sources[0]!;
    const [gap] = src.gaps;
    expect(gap).toMatchObject({ after: lastStored, before: continuesFrom });
    const snap = src.newestSnapshot!;
    // the log was stored up to the gap: the restorable window ends there
    expect(gap!.afterTime).toBe(src.restorable.at(-1)!.to);
    expect(gap!.beforeTime! > gap!.afterTime!).toBe(true);
    expect(src.checks.find((c) => c.check === 'gap')).toEqual({
      check: 'gap',
      status: 'failed',
      message: `The log of ${NAME} has a gap after snapshot ${snap.id.slice(0, 12)}, from ${gap!.afterTime} (position ${lastStored}) to ${gap!.beforeTime} (position ${continuesFrom}), so no instant after ${gap!.afterTime} can be restored: take a snapshot now (crm-backup snapshot --source ${snap.sourceUrl} --name ${NAME}), which starts a new window.`,
    });
    expect(src.checks.filter((c) => c.status === 'failed').map((c) => c.check)).toEqual(['gap']);
    expect(json.problems).toEqual([]);
    await cli(['check', '--prometheus', prom]);
    expect(promValue(await metrics(), 'crmb_gap_count', { source: NAME })).toBe(1);

    // a new snapshot starts a new window: the gap is history, the check passes again
    const snap2 = await cli(['snapshot', '--source', source.url, '--name', NAME]);
    expect(snap2.code, snap2.stderr).toBe(0);
    const healed = await cli(['check', '--prometheus', prom]);
    expect(healed.code, healed.stdout).toBe(0);
    expect(healed.stdout).toContain(
      '  ok    gap       none after the newest full snapshot (1 earlier, bridged by later snapshots)\n',
    );
    expect(promValue(await metrics(), 'crmb_gap_count', { source: NAME })).toBe(0);
    await stopStream();
  });
});
