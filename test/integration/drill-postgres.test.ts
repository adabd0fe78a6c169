/**
 * `crm-backup drill` on a real PostgreSQL, as the real CLI: a good repository passes, is recorded
 * and shown by list and check; --at inside the window compares the tables the log did not touch
 * and names the ones it did; the scratch database is dropped unless --keep, also when the drill
 * is interrupted (through the engine the CLI calls); a table whose data
 * does not match its checksum, and a damaged chunk of a table, fail with exit 5 and one sentence.
 * Every wait is for the event asserted on, never a fixed sleep.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, pgQuery, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { serverNowMicros, streamProcess, tempRepo, TEST_PASSWORD, type TempRepo } from '../helpers/pitr.js';
import { formatMicros } from '../../src/util/time.js';
import { runDrill, type DrillOutcome } from '../../src/drill/drill.js';
import { AbortError } from '../../src/util/errors.js';
import { memoryLogger } from '../../src/util/log.js';

const NAME = 'crm';

describe('crm-backup drill on PostgreSQL', () => {
  let source: TestDatabase;
  let tr: TempRepo;
  let stream: ReturnType<typeof streamProcess> | undefined;
  let snapshotId: string;
  const env = (): Record<string, string> => ({ CRM_BACKUP_REPO: tr.dir, CRM_BACKUP_PASSWORD: TEST_PASSWORD });
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env: env(), timeoutMs: 180_000 });
  const drill = async (args: string[]): Promise<{ r: CliResult; out?: DrillOutcome }> => {
    const r = await cli(['drill', '--target', source.url, '--json', ...args]);
    return { r, out: r.stdout.trim() ? (JSON.parse(r.stdout) as DrillOutcome) : undefined };
  };
  const databaseExists = async (name: string): Promise<boolean> =>
    (await pgQuery(source.url, 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).rows.length === 1;

  beforeAll(async () => {
    source = await createPgDatabase('drill_src');
    await pgQuery(
      source.url,
      `CREATE TABLE contacts (id int PRIMARY KEY, name text, note text);
       CREATE TABLE deals (id serial PRIMARY KEY, contact int REFERENCES contacts, amount numeric(12,2));
       CREATE TABLE empty_audit (id bigint, at timestamptz);
       INSERT INTO contacts SELECT i, 'contact ' || i, CASE WHEN i % 7 = 0 THEN E'two\\nlines\\tand a tab' END
         FROM generate_series(1, 3000) i;
       INSERT INTO deals (contact, amount) SELECT i, i * 1.5 FROM generate_series(1, 3000, 3) i;`,
    );
    tr = await tempRepo();
    stream = streamProcess(source.url, tr.dir, NAME);
    await stream.started;
    const snap = await cli(['snapshot', '--source', source.url, '--name', NAME]);
    expect(snap.code, snap.stderr).toBe(0);
    snapshotId = snap.stdout.trim();
  });
  afterAll(async () => {
    if (stream) {
      stream.child.kill('SIGTERM');
      await stream.exited;
    }
    await source?.drop().catch(() => {});
    await tr?.dispose();
  });

  it('passes on a good repository, drops the scratch database, and is recorded and shown by list and check', async () => {
    const { r, out } = await drill(['--scratch', 'crmb_drill_t_pass']);
    expect(r.code, r.stderr).toBe(0);
    expect(out!.record).toMatchObject({
      source: NAME,
      driver: 'postgres',
      snapshot: snapshotId,
      verdict: 'passed',
      tables: 3,
      tablesCompared: 3,
      rows: 4000,
      notCompared: [],
    });
    expect(out!.record.seconds).toBeGreaterThan(0);
    expect(out!.database.kept).toBe(false);
    expect(await databaseExists('crmb_drill_t_pass')).toBe(false);

    const list = await cli(['list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(
      `  last drill: ${out!.record.startedAt}, snapshot ${snapshotId.slice(0, 12)}, passed: 3 of 3 tables match the snapshot's checksums, restore took `,
    );
    const check = await cli(['check', '--json', '--max-drill-age', '1d']);
    const drillCheck = (JSON.parse(check.stdout) as { sources: Array<{ checks: Array<{ check: string; status: string; message: string }> }> })
      .sources[0]!.checks.find((c) => c.check === 'drill')!;
    expect(drillCheck.status).toBe('ok');
    expect(drillCheck.message).toMatch(
      new RegExp(`^last drill .* passed: snapshot ${snapshotId.slice(0, 12)} restored in .*, 3 of 3 tables match its checksums$`),
    );
  });

  it('--at inside the window compares the tables the log did not touch and names the ones it did; --keep keeps the database', async () => {
    await pgQuery(source.url, 'INSERT INTO deals (contact, amount) VALUES (2, 99.99)');
    const at = await serverNowMicros(source.url);
    // the stream has stored the log past the instant
    await waitFor(
      async () => {
        const c = JSON.parse((await cli(['check', '--json'])).stdout) as {
          sources: Array<{ restorable: Array<{ to: string }> }>;
        };
        return c.sources[0]!.restorable.some((w) => w.to >= formatMicros(at)) || undefined;
      },
      'the log stored past the insert',
      90_000,
      200,
    );
    const { r, out } = await drill(['--at', formatMicros(at), '--keep', '--scratch', 'crmb_drill_t_at']);
    try {
      expect(r.code, r.stderr).toBe(0);
      expect(out!.record).toMatchObject({
        verdict: 'passed',
        at: formatMicros(at),
        tablesCompared: 2,
        notCompared: ['public.deals: changed by the log (loaded, not compared)'],
      });
      expect(out!.database.kept).toBe(true);
      const kept = source.url.replace(/\/[^/?]+(\?|$)/, '/crmb_drill_t_at$1');
      expect((await pgQuery(kept, 'SELECT count(*)::int AS n FROM deals')).rows).toEqual([{ n: 1001 }]);
    } finally {
      await pgQuery(source.url, 'DROP DATABASE IF EXISTS crmb_drill_t_at WITH (FORCE)');
    }
    // without a time: an instant chosen inside the window, and the default scratch name
    const random = await drill(['--at']);
    expect(random.r.code, random.r.stderr).toBe(0);
    expect(random.out!.record.at).toBeDefined();
    expect(random.out!.database.url).toMatch(/\/crmb_drill_\d{14}$/);
    expect(await databaseExists(random.out!.database.url.split('/').at(-1)!)).toBe(false);
  });

  it('--at after a change of a table definition compares no table, rather than reporting a mismatch', async () => {
    await pgQuery(source.url, 'ALTER TABLE empty_audit ADD COLUMN note text');
    const at = await serverNowMicros(source.url);
    await waitFor(
      async () => {
        const c = JSON.parse((await cli(['check', '--json'])).stdout) as {
          sources: Array<{ restorable: Array<{ to: string }> }>;
        };
        return c.sources[0]!.restorable.some((w) => w.to >= formatMicros(at)) || undefined;
      },
      'the log stored past the ALTER TABLE',
      90_000,
      200,
    );
    const { r, out } = await drill(['--at', formatMicros(at), '--scratch', 'crmb_drill_t_ddl']);
    expect(r.code, r.stderr).toBe(0);
    expect(out!.record).toMatchObject({
      verdict: 'passed',
      tablesCompared: 0,
      notCompared: ['contacts', 'deals', 'empty_audit'].map((t) => `public.${t}: changed by the log (loaded, not compared)`),
    });
  });

  it('exits 1 with one sentence and records nothing when the target server cannot be reached', async () => {
    const drills = async (): Promise<number> =>
      (await readdir(join(tr.dir, 'drills'), { recursive: true }).catch(() => [] as string[])).length;
    const before = await drills();
    const r = await cli(['drill', '--target', 'postgres://postgres@127.0.0.1:1/postgres', '--json']);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/127\.0\.0\.1:1/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a sentence, not a stack trace
    expect(await drills()).toBe(before);
  });

  it('drops the scratch database and records nothing when the drill is interrupted', async () => {
    const stop = new AbortController();
    const before = (await tr.repo.listDrills()).length;
    const err = await runDrill({
      repo: tr.repo,
      targetUrl: source.url,
      scratch: 'crmb_drill_t_abort',
      jobs: 2,
      log: memoryLogger(),
      signal: stop.signal,
      // as a SIGINT would, once the restore is done and the tables are about to be read back
      afterRestore: async () => stop.abort(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(await databaseExists('crmb_drill_t_abort')).toBe(false);
    expect((await tr.repo.listDrills()).length).toBe(before);
  });

  it('fails with exit 5 and one sentence when a table does not match its checksum, and check fails on it', async () => {
    // a copy of the snapshot whose manifest claims other contents for contacts
    const snap = (await tr.repo.listSnapshots()).find((s) => s.id === snapshotId)!;
    const contacts = snap.streams.find((s) => s.table === 'public.contacts')!;
    const real = contacts.checksum!;
    const claimed = { rows: real.rows, sum: (real.sum[0] === '0' ? '1' : '0') + real.sum.slice(1) };
    const { id: _id, ...rest } = snap;
    const altered = await tr.repo.commitSnapshot({
      ...rest,
      streams: snap.streams.map((s) => (s === contacts ? { ...s, checksum: claimed } : s)),
    });
    const { r, out } = await drill(['--snapshot', altered, '--scratch', 'crmb_drill_t_sum']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `crm-backup: Table public.contacts restored from snapshot ${altered.slice(0, 12)} does not match the checksum the snapshot stored: expected 3000 rows with checksum ${claimed.sum}, found 3000 rows with checksum ${real.sum}.`,
    );
    expect(out!.record.verdict).toBe('failed');
    expect(await databaseExists('crmb_drill_t_sum')).toBe(false);
    const check = await cli(['check']);
    expect(check.code).toBe(4);
    expect(check.stdout).toContain(`failed: Table public.contacts restored from snapshot ${altered.slice(0, 12)}`);
    const list = await cli(['list']);
    expect(list.stdout).toContain(`FAILED: Table public.contacts restored from snapshot ${altered.slice(0, 12)}`);
  });

  it('fails with exit 5 naming the table when a chunk of it is damaged', async () => {
    const snap = (await tr.repo.listSnapshots()).find((s) => s.id === snapshotId)!;
    const contacts = snap.streams.find((s) => s.table === 'public.contacts')!;
    const chunk = contacts.data.chunks[0]!;
    const file = join(tr.dir, 'data', chunk.slice(0, 2), chunk);
    const bytes = await readFile(file);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01;
    await writeFile(file, bytes);
    try {
      const { r, out } = await drill(['--snapshot', snapshotId, '--scratch', 'crmb_drill_t_chunk']);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr.trim().split('\n').at(-1)).toMatch(
        new RegExp(
          `^crm-backup: The restore of snapshot ${snapshotId.slice(0, 12)} failed: chunk ${chunk} used by snapshot ${snapshotId.slice(0, 12)} table public\\.contacts is damaged \\(.+\\); run "crm-backup verify --read-data" to list everything it affects\\.$`,
        ),
      );
      expect(out!.record).toMatchObject({ verdict: 'failed', snapshot: snapshotId });
      expect(await databaseExists('crmb_drill_t_chunk')).toBe(false);
    } finally {
      bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01;
      await writeFile(file, bytes);
    }
  });
});
