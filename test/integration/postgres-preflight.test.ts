/**
 * Preflight findings against real servers: a wal_level=replica server, a role without
 * REPLICATION, risky tables (no key, unlogged), large objects, and the snapshot refusal
 * that matches the finding. doctor (the real CLI) prints a check both needs report once.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createPgDatabase,
  pgStartOwnServer,
  type TestDatabase,
  type ThrowawayServer,
  pgQuery as sql,
} from '../harness/index.js';
import { driver } from '../../drivers/postgres/index.js';
import type { Finding } from '../../src/driver/finding.js';
import { SourceError } from '../../src/util/errors.js';
import { runCli } from '../helpers/cli.js';

async function findings(url: string, need: 'snapshot' | 'stream' | 'restore'): Promise<Finding[]> {
  const source = await driver.openSource(url, { name: 'test' });
  try {
    return await source.preflight(need);
  } finally {
    await source.close();
  }
}

const byId = (all: Finding[], id: string): Finding[] => all.filter((f) => f.id === id);

/** How often `text` occurs in `output`. */
const count = (output: string, text: string): number => output.split(text).length - 1;

describe('postgres preflight', () => {
  let replica: ThrowawayServer;
  let db: TestDatabase;
  const role = `app_${Math.random().toString(36).slice(2, 8)}`;
  const asRole = (): string => {
    const u = new URL(db.url);
    u.username = role;
    return u.toString();
  };

  beforeAll(async () => {
    [replica, db] = await Promise.all([
      pgStartOwnServer({ settings: { wal_level: 'replica' } }),
      createPgDatabase('preflight'),
    ]);
    await sql(
      db.url,
      `CREATE ROLE ${role} LOGIN;
       CREATE TABLE keyed (id int PRIMARY KEY);
       CREATE TABLE loose (a int, b text);
       CREATE UNLOGGED TABLE cache (k text PRIMARY KEY);
       CREATE TABLE secret (x int PRIMARY KEY);
       GRANT SELECT ON keyed, loose, cache TO ${role};
       SELECT lo_from_bytea(0, 'blob');`,
    );
  });
  afterAll(async () => {
    await db?.drop();
    await sql(new URL('/postgres', db.url).toString(), `DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await replica?.stop();
  });

  it('names wal_level in one sentence, and the fix apart', async () => {
    const all = await findings(replica.url, 'stream');
    expect(byId(all, 'pg.wal_level')).toEqual([
      {
        id: 'pg.wal_level',
        severity: 'error',
        subject: 'wal_level',
        message: 'wal_level is "replica"; logical decoding needs "logical".',
        fix: 'Set wal_level = logical in postgresql.conf and restart PostgreSQL.',
      },
    ]);
  });

  it('doctor prints wal_level, which snapshot and stream both check, once with its fix once', async () => {
    const r = await runCli(['doctor', '--source', replica.url]);
    expect(r.code, r.stderr).toBe(1);
    expect(count(r.stdout, '[pg.wal_level]')).toBe(1);
    expect(count(r.stdout, 'wal_level = logical')).toBe(1);
    expect(r.stdout).toContain(
      'FAIL  [pg.wal_level] wal_level is "replica"; logical decoding needs "logical".\n' +
        '      Fix: Set wal_level = logical in postgresql.conf and restart PostgreSQL.\n',
    );
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toEqual([...new Set(lines)]);
  });

  it('doctor prints each check a role fails for both needs once, with its fix once', async () => {
    const r = await runCli(['doctor', '--source', asRole()]);
    expect(r.code, r.stderr).toBe(1);
    for (const id of ['pg.role_replication', 'pg.read_tables', 'pg.wal_level', 'pg.version'])
      expect(count(r.stdout, `[${id}]`), id).toBe(1);
    expect(count(r.stdout, `ALTER ROLE "${role}" REPLICATION;`)).toBe(1);
    // the read grant, the stream's CREATE grant and the owner's rights a listed publication needs
    expect(count(r.stdout, `TO "${role}";`)).toBe(3);
    const json = await runCli(['doctor', '--source', asRole(), '--json']);
    const merged = JSON.parse(json.stdout) as Finding[];
    const keys = merged.map((f) => `${f.id} ${f.subject ?? ''}`);
    expect(keys).toEqual([...new Set(keys)]);
    expect(byId(merged, 'pg.create_publication')[0]?.severity).toBe('error');
  });

  it('a snapshot refuses with the finding as "<message> <fix>"', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crmb-preflight-'));
    const env = { CRM_BACKUP_REPO: join(dir, 'repo'), CRM_BACKUP_PASSWORD: 'pw' };
    try {
      expect((await runCli(['init'], { env })).code).toBe(0);
      const r = await runCli(['snapshot', '--source', replica.url], { env });
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        'crm-backup: wal_level is "replica"; logical decoding needs "logical". Set wal_level = logical in postgresql.conf and restart PostgreSQL.',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a snapshot on that server refuses with the same reason', async () => {
    const source = await driver.openSource(replica.url, { name: 'test' });
    const err = await source.openSnapshot({ jobs: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toMatch(/wal_level is not "logical"/);
    expect((err as Error).message).not.toMatch(/\n/);
  });

  it('a role without REPLICATION gets the privilege sentence and cannot read every table', async () => {
    const all = await findings(asRole(), 'snapshot');
    expect(byId(all, 'pg.role_replication')).toEqual([
      expect.objectContaining({
        severity: 'error',
        message: `Role "${role}" has neither the REPLICATION attribute nor superuser; logical decoding needs one of them.`,
        fix: `ALTER ROLE "${role}" REPLICATION;`,
      }),
    ]);
    const read = byId(all, 'pg.read_tables');
    expect(read[0]?.message).toMatch(/cannot read 1 table\(s\) \(public\.secret\)/);
  });

  it('a restore target checks CREATE, and the replay privilege only when the log will be replayed', async () => {
    const target = await driver.openTarget(asRole());
    try {
      const snapshotOnly = await target.preflight!({ replay: false });
      expect(byId(snapshotOnly, 'pg.create_target')[0]?.message).toBe(
        `Role "${role}" lacks CREATE on database "${db.name}"; a restore creates schemas and tables there.`,
      );
      expect(byId(snapshotOnly, 'pg.replay_privilege')).toEqual([]);
      const pitr = await target.preflight!({ replay: true });
      expect(byId(pitr, 'pg.replay_privilege')).toEqual([
        expect.objectContaining({
          severity: 'error',
          message: `Role "${role}" cannot set session_replication_role, which replaying the log needs (so the target's triggers do not fire twice).`,
        }),
      ]);
    } finally {
      await target.close();
    }
  });

  it('flags tables without a key, unlogged tables, large objects and the unlimited WAL keep size', async () => {
    const all = await findings(db.url, 'stream');
    const ident = byId(all, 'pg.replica_identity');
    expect(ident.map((f) => f.subject)).toEqual(['public.loose']);
    // the stream sets it itself, and says so (#10 item 10)
    expect(ident[0]?.severity).toBe('info');
    expect(ident[0]?.fix).toBeUndefined();
    expect(ident[0]?.message).toMatch(/the stream sets REPLICA IDENTITY FULL on it/);
    expect(byId(all, 'pg.unlogged_tables')[0]?.message).toMatch(/"?public"?\.cache.*not streamed/);
    expect(byId(all, 'pg.large_objects')[0]?.severity).toBe('warning');
    expect(byId(all, 'pg.max_slot_wal_keep_size')[0]?.severity).toBe('warning');
    expect(byId(all, 'pg.wal_level')[0]?.severity).toBe('ok');
    expect(all.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('every finding is one sentence, without its fix', async () => {
    const all = [
      ...(await findings(db.url, 'stream')),
      ...(await findings(asRole(), 'stream')),
      ...(await findings(asRole(), 'restore')),
      ...(await findings(replica.url, 'snapshot')),
    ];
    expect(all.filter((f) => f.fix).length).toBeGreaterThan(5);
    for (const f of all) {
      expect(f.message).toMatch(/^[^\n]+[.]$/);
      expect(f.message.split(/[.;] /).length, f.message).toBeLessThanOrEqual(2);
      if (f.fix) expect(f.message.toLowerCase()).not.toContain(f.fix.toLowerCase().slice(0, 12));
    }
  });
});
