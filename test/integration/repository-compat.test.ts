/**
 * A repository written by the previous release (crm-backup 0.1.0, commit 79c207b: before the
 * driver-contract refactor) still lists, verifies and restores exactly with this code, both a
 * snapshot alone and a point in time through its log. The fixture was written by that release
 * (test/fixtures/repo-0.1.0/make-fixture.ts says how); nothing here writes it anew.
 */
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums, type TableChecksum } from '../../scripts/crm/index.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { runCli } from '../helpers/cli.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/repo-0.1.0/', import.meta.url));
const EXCLUDE = { exclude: ['knex_migrations', 'knex_migrations_lock'] };

interface Expected {
  readonly password: string;
  readonly source: string;
  readonly at: string;
  readonly atSnapshot: Record<string, TableChecksum>;
  readonly atT: Record<string, TableChecksum>;
}

let dir: string;
let expected: Expected;
const targets: TestDatabase[] = [];
const cli = (args: string[]) =>
  runCli([...args, '--repo', join(dir, 'repo')], { env: { CRM_BACKUP_PASSWORD: expected.password } });

beforeAll(async () => {
  // a copy: commands take locks (files) in the repository, and the fixture stays as written
  dir = await mkdtemp(join(tmpdir(), 'crmb-compat-'));
  await cp(join(FIXTURE, 'repo'), join(dir, 'repo'), { recursive: true });
  expected = JSON.parse(await readFile(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
});
afterAll(async () => {
  for (const t of targets) await t.drop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
});

describe('a repository written by crm-backup 0.1.0', () => {
  it('lists its source and verifies every byte', async () => {
    const list = await cli(['list', '--json']);
    expect(list.stderr).toBe('');
    const [source] = JSON.parse(list.stdout) as Array<{ source: string; snapshots: unknown[]; restorable: unknown[] }>;
    expect(source?.source).toBe(expected.source);
    expect(source?.snapshots).toHaveLength(1);
    expect(source?.restorable).toHaveLength(1);
    const verify = await cli(['verify', '--read-data']);
    expect(verify.code, verify.stderr).toBe(0);
  });

  it('restores its snapshot exactly', async () => {
    const target = await createPgDatabase('compat_snap');
    targets.push(target);
    const r = await cli(['restore', '--target', target.url, '--latest']);
    expect(r.code, r.stderr).toBe(0);
    expect(await pgTableChecksums(target.url, EXCLUDE)).toEqual(expected.atSnapshot);
  });

  it('restores a point in time through its log exactly', async () => {
    const target = await createPgDatabase('compat_pitr');
    targets.push(target);
    const r = await cli(['restore', '--target', target.url, '--at', expected.at]);
    expect(r.code, r.stderr).toBe(0);
    const restored = await pgTableChecksums(target.url, EXCLUDE);
    expect(restored).toEqual(expected.atT);
    // the log really mattered: the workload changed the data after the snapshot
    expect(restored).not.toEqual(expected.atSnapshot);
  });

  it('drills its snapshot, which carries no checksums: the restore runs, nothing is compared, and says why', async () => {
    const server = await createPgDatabase('compat_drill');
    targets.push(server);
    const r = await cli(['drill', '--target', server.url, '--scratch', 'crmb_drill_compat', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as {
      record: { verdict: string; tablesCompared: number; tables: number; notCompared: string[] };
    };
    expect(out.record.verdict).toBe('passed');
    expect(out.record.tablesCompared).toBe(0);
    expect(out.record.tables).toBeGreaterThan(0);
    expect(out.record.notCompared).toHaveLength(out.record.tables);
    for (const line of out.record.notCompared) expect(line).toMatch(/: the snapshot stored no checksum for it$/);
    expect(r.stderr).toContain('it was taken before crm-backup stored them, so only the restore itself was checked');
  });
});
