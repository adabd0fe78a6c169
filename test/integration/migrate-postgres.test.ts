/**
 * `crm-backup migrate`: a snapshot tagged pre-migration (with the pending migration names), then
 * knex migrate:latest; when a migration fails, the exact restore command, which really restores.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { runCli } from '../helpers/cli.js';
import { pgExec } from '../helpers/pitr.js';

describe('crm-backup migrate', () => {
  let dir: string;
  let source: TestDatabase;
  const dbs: TestDatabase[] = [];
  const env = (): Record<string, string> => ({
    CRM_BACKUP_REPO: join(dir, 'repo'),
    CRM_BACKUP_PASSWORD: 'pw for migrate',
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crmb-migrate-'));
    source = await createPgDatabase('migrate_src');
    await pgExec(
      source.url,
      `CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (1, 'Ada'), (2, 'Grace')`,
    );
    await mkdir(join(dir, 'migrations'));
    await writeFile(
      join(dir, 'knexfile.mjs'),
      `export default { client: 'pg', migrations: { directory: ${JSON.stringify(join(dir, 'migrations'))}, loadExtensions: ['.mjs'] } };\n`,
    );
    await writeFile(
      join(dir, 'migrations', '001_add_email.mjs'),
      `export async function up(knex) { await knex.schema.alterTable('customers', (t) => t.string('email')); }\nexport async function down() {}\n`,
    );
    await writeFile(
      join(dir, 'migrations', '002_broken.mjs'),
      `export async function up(knex) { await knex.raw('UPDATE customers SET name = NULL'); await knex.raw('SELECT no_such_function()'); }\nexport async function down() {}\n`,
    );
    expect((await runCli(['init'], { env: env() })).code).toBe(0);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('snapshots before migrating and prints the restore command that undoes a failed migration', async () => {
    const before = await pgTableChecksums(source.url, {
      exclude: ['knex_migrations', 'knex_migrations_lock'],
    });
    const r = await runCli(
      ['migrate', '--source', source.url, '--knexfile', join(dir, 'knexfile.mjs'), '--name', 'app'],
      { env: env() },
    );
    expect(r.code).toBe(1);
    const cmd =
      /crm-backup restore --repo (\S+) --target <EMPTY_DATABASE_URL> --snapshot ([0-9a-f]{64})/.exec(
        r.stdout,
      );
    expect(cmd, r.stdout + r.stderr).not.toBeNull();

    const list = JSON.parse((await runCli(['list', '--json'], { env: env() })).stdout) as Array<{
      snapshots: Array<{ id: string; tags: string[] }>;
    }>;
    expect(list[0]!.snapshots[0]).toMatchObject({
      id: cmd![2],
      tags: ['pre-migration', 'migration:001_add_email.mjs', 'migration:002_broken.mjs'],
    });

    const target = await createPgDatabase('migrate_dst');
    dbs.push(target);
    const restore = await runCli(
      ['restore', '--repo', cmd![1]!, '--target', target.url, '--snapshot', cmd![2]!],
      { env: env() },
    );
    expect(restore.code, restore.stderr).toBe(0);
    expect(
      await pgTableChecksums(target.url, { exclude: ['knex_migrations', 'knex_migrations_lock'] }),
    ).toEqual(before);
  });

  it('says so and takes no snapshot when nothing is pending', async () => {
    await writeFile(
      join(dir, 'migrations', '002_broken.mjs'),
      `export async function up() {}\nexport async function down() {}\n`,
    );
    expect(
      (
        await runCli(
          ['migrate', '--source', source.url, '--knexfile', join(dir, 'knexfile.mjs'), '--name', 'app'],
          { env: env() },
        )
      ).code,
    ).toBe(0);
    const r = await runCli(
      ['migrate', '--source', source.url, '--knexfile', join(dir, 'knexfile.mjs'), '--name', 'app'],
      { env: env() },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('No pending migrations; nothing to do.');
  });
});
