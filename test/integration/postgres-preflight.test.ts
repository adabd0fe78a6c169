/**
 * Preflight findings against real servers: a wal_level=replica server, a role without
 * REPLICATION, risky tables (no key, unlogged), large objects, and the snapshot refusal
 * that matches the finding.
 */
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

async function findings(url: string, need: 'snapshot' | 'stream' | 'restore'): Promise<Finding[]> {
  const source = await driver.openSource(url, { name: 'test' });
  try {
    return await source.preflight(need);
  } finally {
    await source.close();
  }
}

const byCheck = (all: Finding[], check: string): Finding[] => all.filter((f) => f.check === check);

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

  it('names wal_level in one sentence with the fix', async () => {
    const all = await findings(replica.url, 'stream');
    expect(byCheck(all, 'pg.wal_level')).toEqual([
      expect.objectContaining({
        severity: 'error',
        message:
          'wal_level is "replica"; logical decoding needs "logical" (set wal_level = logical in postgresql.conf and restart PostgreSQL).',
      }),
    ]);
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
    expect(byCheck(all, 'pg.role_replication')).toEqual([
      expect.objectContaining({
        severity: 'error',
        message: `Role "${role}" has neither the REPLICATION attribute nor superuser; logical decoding needs one of them.`,
        fix: `ALTER ROLE "${role}" REPLICATION;`,
      }),
    ]);
    const read = byCheck(all, 'pg.read_tables');
    expect(read[0]?.message).toMatch(/cannot read 1 table\(s\) \(public\.secret\)/);
  });

  it('a restore target checks CREATE, and the replay privilege only when the log will be replayed', async () => {
    const target = await driver.openTarget(asRole());
    try {
      const snapshotOnly = await target.preflight!({ replay: false });
      expect(byCheck(snapshotOnly, 'pg.create_target')[0]?.message).toBe(
        `Role "${role}" lacks CREATE on database "${db.name}"; a restore creates schemas and tables there.`,
      );
      expect(byCheck(snapshotOnly, 'pg.replay_privilege')).toEqual([]);
      const pitr = await target.preflight!({ replay: true });
      expect(byCheck(pitr, 'pg.replay_privilege')).toEqual([
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
    const ident = byCheck(all, 'pg.replica_identity');
    expect(ident.map((f) => f.subject)).toEqual(['public.loose']);
    expect(ident[0]?.fix).toBe('ALTER TABLE "public"."loose" REPLICA IDENTITY FULL;');
    expect(byCheck(all, 'pg.unlogged_tables')[0]?.message).toMatch(/"?public"?\.cache.*not streamed/);
    expect(byCheck(all, 'pg.large_objects')[0]?.severity).toBe('warning');
    expect(byCheck(all, 'pg.max_slot_wal_keep_size')[0]?.severity).toBe('warning');
    expect(byCheck(all, 'pg.wal_level')[0]?.severity).toBe('ok');
    expect(all.filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('every finding is one sentence', async () => {
    for (const f of [...(await findings(db.url, 'stream')), ...(await findings(asRole(), 'restore'))]) {
      expect(f.message).toMatch(/^[^\n]+[.]$/);
    }
  });
});
