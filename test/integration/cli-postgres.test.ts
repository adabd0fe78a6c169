/**
 * The CLI as a DBA uses it, on a real PostgreSQL: init, doctor, stream, snapshot, list, verify,
 * damage found by verify and refused by restore, restores by --at / --latest / --tables, keys,
 * forget. Every step is the real `crm-backup` process, checked by exit code and message.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { cliProcess, runCli } from '../helpers/cli.js';
import { pgExec, serverNowMicros } from '../helpers/pitr.js';
import { formatMicros } from '../../src/util/time.js';
import { openRepository } from '../../src/repository/index.js';
import { LocalBackend } from '../../src/storage/index.js';
import { Secret } from '../../src/util/redact.js';

describe('crm-backup CLI on PostgreSQL', () => {
  let dir: string;
  let source: TestDatabase;
  const dbs: TestDatabase[] = [];
  const env = (): Record<string, string> => ({
    CRM_BACKUP_REPO: join(dir, 'repo'),
    CRM_BACKUP_PASSWORD: 'first password',
  });
  const target = async (): Promise<TestDatabase> => {
    const d = await createPgDatabase('cli_dst');
    dbs.push(d);
    return d;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crmb-cli-'));
    source = await createPgDatabase('cli_src');
    await seedCrm(source.url, { scale: 0.005, seed: 9 });
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up, lists, verifies and restores a CRM to a point in time', async () => {
    expect((await runCli(['init'], { env: env() })).code).toBe(0);
    const again = await runCli(['init'], { env: env() });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already holds a crm-backup repository');

    const doctor = await runCli(['doctor', '--source', source.url], { env: env() });
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toContain('email_events');

    const stream = cliProcess(['stream', '--source', source.url, '--name', 'cli', '--segment-seconds', '1'], {
      env: env(),
    });
    let streamErr = '';
    stream.stderr.on('data', (d: Buffer) => (streamErr += d));
    const streamExit = new Promise<number | null>((r) => stream.on('close', (c) => r(c)));
    while (!streamErr.includes('"stream.start"')) {
      if (stream.exitCode !== null) throw new Error(streamErr);
      await new Promise((r) => setTimeout(r, 100));
    }
    const snap = await runCli(
      ['snapshot', '--source', source.url, '--name', 'cli', '--tag', 'nightly', '--jobs', '2'],
      { env: env() },
    );
    expect(snap.code, snap.stderr).toBe(0);
    const snapshotId = snap.stdout.trim();
    expect(snapshotId).toMatch(/^[0-9a-f]{64}$/);

    await runWorkload(source.url, { ratePerSecond: 200, durationMs: 1500, seed: 4 });
    const sums = await pgTableChecksums(source.url);
    const at = await serverNowMicros(source.url);
    await pgExec(source.url, 'UPDATE deals SET amount = 0'); // the "bad UPDATE": no WHERE clause
    let covered = false;
    for (let i = 0; i < 100 && !covered; i++) {
      const list = await runCli(['list', '--json'], { env: env() });
      const to = (JSON.parse(list.stdout) as Array<{ restorable: Array<{ to: string }> }>)[0]?.restorable.at(
        -1,
      )?.to;
      covered = to !== undefined && to >= formatMicros(at);
      if (!covered) await new Promise((r) => setTimeout(r, 300));
    }
    expect(covered).toBe(true);
    stream.kill('SIGTERM');
    expect(await streamExit).toBe(0);

    const human = await runCli(['list'], { env: env() });
    expect(human.stdout).toContain(`snapshot ${snapshotId.slice(0, 12)}`);
    expect(human.stdout).toContain('[nightly]');
    expect(human.stdout).toMatch(/restorable to any time from .* to /);

    const verify = await runCli(['verify', '--read-data'], { env: env() });
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toContain('No damage found.');

    const pitr = await target();
    const r = await runCli(['restore', '--target', pitr.url, '--at', formatMicros(at), '--json'], {
      env: env(),
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ snapshot: snapshotId });
    expect(await pgTableChecksums(pitr.url)).toEqual(sums);
    // every table has planner statistics, those whose work post-data took over included
    const unanalyzed = await pgExec(
      pitr.url,
      "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NULL AND schemaname = 'public' ORDER BY 1",
    );
    expect(unanalyzed.rows).toEqual([]);

    const refused = await runCli(['restore', '--target', pitr.url, '--latest'], { env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/crm-backup: .*--clean/);

    const subset = await target();
    const t = await runCli(['restore', '--target', subset.url, '--latest', '--tables', 'users,accounts'], {
      env: env(),
    });
    expect(t.code, t.stderr).toBe(0);
    const counts = await pgExec(
      subset.url,
      'SELECT (SELECT count(*) FROM users)::int AS u, (SELECT count(*) FROM contacts)::int AS c',
    );
    expect(counts.rows[0]).toMatchObject({ c: 0 });
    expect(counts.rows[0].u).toBeGreaterThan(0);

    // one table whose keys point at tables left out: restored, keys added NOT VALID, and said so
    const one = await target();
    const c = await runCli(['restore', '--target', one.url, '--latest', '--tables', 'contacts'], {
      env: env(),
    });
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toContain(
      'Foreign key contacts_account_id_foreign from public.contacts to public.accounts was added NOT VALID: public.accounts has no rows in this restore (only some tables were restored or snapshotted), so the rows of public.contacts could not be checked against it; once its rows are back, run: ALTER TABLE ONLY public.contacts VALIDATE CONSTRAINT contacts_account_id_foreign;',
    );
    const keys = await pgExec(
      one.url,
      `SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'contacts'::regclass AND contype = 'f' ORDER BY 1`,
    );
    expect(keys.rows).toEqual([
      { conname: 'contacts_account_id_foreign', convalidated: false },
      { conname: 'contacts_owner_id_foreign', convalidated: false },
    ]);
    const rows = await pgExec(
      one.url,
      'SELECT (SELECT count(*) FROM contacts)::int AS c, (SELECT count(*) FROM accounts)::int AS a',
    );
    expect(rows.rows[0].c).toBeGreaterThan(0);
    expect(rows.rows[0].a).toBe(0);
    // its one table loaded alone: its statistics were gathered by post-data, with no replay after
    const analyzed = await pgExec(
      one.url,
      "SELECT last_analyze IS NOT NULL AS yes FROM pg_stat_user_tables WHERE relname = 'contacts'",
    );
    expect(analyzed.rows).toEqual([{ yes: true }]);
  });

  it('reports damage with what it affects (exit 3) and a restore touching it refuses', async () => {
    // Corrupt one byte of a chunk the latest snapshot's largest table is made of.
    const repo = await openRepository(
      await LocalBackend.open(join(dir, 'repo')),
      new Secret('first password'),
    );
    const snap = (await repo.listSnapshots()).at(-1)!;
    await repo.close();
    const stream = [...snap.streams].sort((a, b) => b.data.bytes - a.data.bytes)[0]!;
    const chunk = stream.data.chunks[0]!;
    const file = join(dir, 'repo', 'data', chunk.slice(0, 2), chunk);
    const bytes = await readFile(file);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01;
    await writeFile(file, bytes);

    const verify = await runCli(['verify', '--read-data'], { env: env() });
    expect(verify.code, verify.stdout + verify.stderr).toBe(3);
    expect(verify.stdout).toContain(`damaged: data/${chunk.slice(0, 2)}/${chunk}`);
    expect(verify.stdout).toContain(`snapshot ${snap.id.slice(0, 12)} table ${stream.table}`);

    const d = await target();
    const r = await runCli(['restore', '--target', d.url, '--snapshot', snap.id], { env: env() });
    // (exited 0 once in many runs on a clean clone, never reproduced: keep what it said)
    expect(r.code, `restore said:\n${r.stdout}\n${r.stderr}`).toBe(3);
    expect(r.stderr).toContain(chunk.slice(0, 12));

    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0x01; // repair, so later tests see a sound repository
    await writeFile(file, bytes);
  });

  it('opens with any of several passwords, refuses a wrong one in one sentence, and forgets by rules', async () => {
    const add = await runCli(['key', 'add', '--label', 'oncall'], {
      env: { ...env(), CRM_BACKUP_NEW_PASSWORD: 'second password' },
    });
    expect(add.code, add.stderr).toBe(0);
    const keys = await runCli(['key', 'list', '--json'], {
      env: { ...env(), CRM_BACKUP_PASSWORD: 'second password' },
    });
    expect(keys.code).toBe(0);
    expect(JSON.parse(keys.stdout)).toHaveLength(2);
    const wrong = await runCli(['list'], { env: { ...env(), CRM_BACKUP_PASSWORD: 'not the password' } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe(
      `crm-backup: The password does not open any key of the repository at ${join(dir, 'repo')}.`,
    );
    expect(wrong.stderr).not.toContain('not the password');
    // snapshot opens the source while the key is derived: a wrong password still ends the run with
    // that one sentence, and the process exits (a source session left open would keep it alive)
    const wrongSnap = await runCli(['snapshot', '--source', source.url], {
      env: { ...env(), CRM_BACKUP_PASSWORD: 'not the password' },
    });
    expect(wrongSnap.code).toBe(1);
    expect(wrongSnap.stderr.trim()).toBe(
      `crm-backup: The password does not open any key of the repository at ${join(dir, 'repo')}.`,
    );

    const forget = await runCli(['forget', '--keep-last', '1', '--dry-run'], { env: env() });
    expect(forget.code, forget.stderr).toBe(0);
    expect(forget.stdout).toContain('Would remove 0 snapshots');
  });

  it('stream --drop removes the slot and the publication from the source', async () => {
    const before = await pgExec(
      source.url,
      `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'crmb_cli'`,
    );
    expect(before.rows[0].n).toBe(1);
    const r = await runCli(['stream', '--source', source.url, '--name', 'cli', '--drop'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    const after = await pgExec(
      source.url,
      `SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'crmb_cli')::int AS slots,
              (SELECT count(*) FROM pg_publication WHERE pubname = 'crmb_cli')::int AS pubs`,
    );
    expect(after.rows[0]).toEqual({ slots: 0, pubs: 0 });
  });
});
