/**
 * The `shapes` dataset (issue 15) seeded at a tiny scale into the harness PostgreSQL, then the
 * real CLI's `snapshot` and `restore --latest` into an empty database: every table (partitions,
 * their parent and the table without a key included) must come back equal by per-table
 * checksums, and the sequence, the view and the indexes must be there.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { seedShapes } from '../../scripts/crm/shapes/seed.js';
import { createPgDatabase, pgQuery, type TestDatabase } from '../harness/index.js';
import { runCli } from '../helpers/cli.js';

describe('shapes dataset: seed, snapshot, restore --latest on PostgreSQL', () => {
  let dir: string;
  let source: TestDatabase;
  let target: TestDatabase | undefined;
  const env = (): Record<string, string> => ({ CRM_BACKUP_REPO: join(dir, 'repo'), CRM_BACKUP_PASSWORD: 'shapes password' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crmb-shapes-'));
    source = await createPgDatabase('shapes_src');
    await seedShapes(source.url, { scale: 0.02, seed: 3 });
  });
  afterAll(async () => {
    await target?.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('seeds every table, both partitions and the duplicate rows of the keyless table', async () => {
    const sums = await pgTableChecksums(source.url);
    expect(Object.keys(sums).sort()).toEqual(['activities', 'activities_old', 'activities_recent', 'audit_log', 'companies', 'contacts', 'deals']);
    expect(sums.activities!.rows).toBe(sums.activities_old!.rows + sums.activities_recent!.rows);
    expect(sums.activities_old!.rows).toBeGreaterThan(0);
    expect(sums.activities_recent!.rows).toBeGreaterThan(0);
    const dup = await pgQuery(source.url, 'SELECT count(*) - count(DISTINCT a) AS n FROM audit_log a');
    expect(Number(dup.rows[0].n)).toBeGreaterThan(0);
  });

  it('restores every shape equal to the source', async () => {
    expect((await runCli(['init'], { env: env() })).code).toBe(0);
    const snap = await runCli(['snapshot', '--source', source.url, '--name', 'shapes', '--jobs', '2'], { env: env() });
    expect(snap.code, snap.stderr).toBe(0);
    target = await createPgDatabase('shapes_dst');
    const r = await runCli(['restore', '--target', target.url, '--latest'], { env: env() });
    expect(r.code, `restore said:\n${r.stdout}\n${r.stderr}`).toBe(0);

    expect(await pgTableChecksums(target.url)).toEqual(await pgTableChecksums(source.url));
    const objects = `SELECT
        (SELECT last_value FROM invoice_number_seq) AS seq,
        (SELECT count(*) FROM open_deals) AS open_deals,
        (SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public') AS indexes,
        (SELECT string_agg(conname || ':' || confdeltype::text, ',' ORDER BY conname) FROM pg_constraint WHERE contype = 'f') AS fks`;
    expect((await pgQuery(target.url, objects)).rows).toEqual((await pgQuery(source.url, objects)).rows);
    // keys added early by the referenced table's builder (NOT VALID) end validated like the rest
    const unvalidated = await pgQuery(target.url, "SELECT conname FROM pg_constraint WHERE contype = 'f' AND NOT convalidated");
    expect(unvalidated.rows).toEqual([]);
    // the partitioned parent got statistics of its own (scheduled once its partitions were in)
    const parentStats = await pgQuery(
      target.url,
      "SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = 'public' AND tablename = 'activities' AND inherited",
    );
    expect(parentStats.rows[0].n).toBeGreaterThan(0);
  });
});
