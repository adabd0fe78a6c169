/**
 * `restore --clean` drops only what the restore recreates, says what it dropped, and refuses
 * (dropping nothing) when the target holds anything else; and no restore overwrites the
 * snapshot's own source database, reached by any URL, unless --overwrite-source says so.
 * The real CLI against the harness's PostgreSQL (#10 item 6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { driver } from '../../drivers/postgres/index.js';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { SOURCE_IDENTITY_META } from '../../src/driver/target-driver.js';
import { restore } from '../../src/restore/restore.js';
import { memoryLogger } from '../../src/util/log.js';
import { createPgDatabase, pgQuery as sql, type TestDatabase } from '../harness/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { tempRepo, TEST_PASSWORD, takeSnapshot, type TempRepo } from '../helpers/pitr.js';

const SCHEMA = `
  CREATE SCHEMA app;
  CREATE TYPE mood AS ENUM ('ok', 'meh');
  CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL, m mood);
  CREATE TABLE notes (contact int REFERENCES contacts(id), body text);
  CREATE TABLE app.items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label text);
  CREATE VIEW app.named AS SELECT id, name FROM contacts;
  CREATE FUNCTION app.shout(t text, n integer) RETURNS text LANGUAGE sql AS $$ SELECT upper(t) $$;
  CREATE FUNCTION public.on_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
  INSERT INTO contacts (name, m) SELECT 'c' || g, 'ok' FROM generate_series(1, 50) g;
  INSERT INTO notes SELECT g % 50 + 1, 'note ' || g FROM generate_series(1, 80) g;
  INSERT INTO app.items (label) SELECT 'i' || g FROM generate_series(1, 20) g;`;

/** Per-table checksums of both schemas. */
async function sums(url: string): Promise<Record<string, unknown>> {
  return { public: await pgTableChecksums(url), app: await pgTableChecksums(url, { schema: 'app' }) };
}

/** The messages of the JSON log lines of one event on stderr. */
function events(r: CliResult, event: string): string[] {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; message: string })
    .filter((e) => e.event === event)
    .map((e) => e.message);
}

describe('postgres restore --clean and the source database', () => {
  let tr: TempRepo;
  let source: TestDatabase;
  let snapshotId: string;
  let atSnapshot: Record<string, unknown>;
  const dbs: TestDatabase[] = [];
  const target = async (): Promise<TestDatabase> => {
    const d = await createPgDatabase('clean_dst');
    dbs.push(d);
    return d;
  };
  const cli = (args: string[]): Promise<CliResult> =>
    runCli(['restore', '--repo', tr.dir, '--name', 'src', ...args], {
      env: { CRM_BACKUP_PASSWORD: TEST_PASSWORD },
    });
  /** A target holding what the snapshot holds, as an earlier restore left it. */
  const restored = async (): Promise<TestDatabase> => {
    const t = await target();
    const r = await cli(['--target', t.url, '--snapshot', snapshotId]);
    expect(r.code, r.stderr).toBe(0);
    return t;
  };

  beforeAll(async () => {
    tr = await tempRepo();
    source = await createPgDatabase('clean_src');
    await sql(source.url, SCHEMA);
    snapshotId = await takeSnapshot(tr.repo, driver, source.url, 'src');
    atSnapshot = await sums(source.url);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await tr?.dispose();
  });

  it('drops only what the restore recreates, one line per kind, and the restore equals the snapshot', async () => {
    const t = await restored();
    // the earlier restore was then used: rows changed, an index added to a table the snapshot has
    await sql(
      t.url,
      `UPDATE contacts SET name = 'changed'; DELETE FROM notes WHERE contact < 10;
       INSERT INTO app.items (label) VALUES ('extra'); CREATE INDEX ON notes (body);`,
    );
    const r = await cli(['--target', t.url, '--snapshot', snapshotId, '--clean']);
    expect(r.code, r.stderr).toBe(0);
    expect(events(r, 'restore.clean').sort()).toEqual(
      [
        '--clean dropped 1 schema from the target: app.',
        '--clean dropped 3 tables from the target: app.items, public.contacts, public.notes.',
        '--clean dropped 1 view from the target: app.named.',
        '--clean dropped 1 sequence from the target: public.contacts_id_seq.',
        '--clean dropped 1 type from the target: public.mood.',
        '--clean dropped 2 functions from the target: app.shout(text, integer), public.on_ddl().',
      ].sort(),
    );
    expect(await sums(t.url)).toEqual(atSnapshot);
  });

  it('refuses, dropping nothing, when the target holds objects the snapshot does not create, and names them', async () => {
    const t = await restored();
    await sql(
      t.url,
      `CREATE TABLE invoices (id int PRIMARY KEY); INSERT INTO invoices VALUES (1), (2);
       CREATE SCHEMA scratch; CREATE TABLE scratch.keep (x int); INSERT INTO scratch.keep VALUES (7);`,
    );
    const before = { ...(await sums(t.url)), scratch: await pgTableChecksums(t.url, { schema: 'scratch' }) };
    const r = await cli(['--target', t.url, '--snapshot', snapshotId, '--clean']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `crm-backup: The target database ${t.url} holds 2 object(s) the snapshot does not create (table public.invoices, table scratch.keep), and --clean drops only what the restore recreates; drop them yourself or restore into another database.`,
    );
    expect({ ...(await sums(t.url)), scratch: await pgTableChecksums(t.url, { schema: 'scratch' }) }).toEqual(
      before,
    );
  });

  it('refuses, dropping nothing, when a drop would take along an object the snapshot does not create', async () => {
    const t = await restored();
    await sql(t.url, 'CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.on_ddl()');
    const r = await cli(['--target', t.url, '--snapshot', snapshotId, '--clean']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      `crm-backup: Dropping what the restore recreates in ${t.url} would also drop 1 object(s) the snapshot does not create (event trigger audit_ddl), so --clean drops nothing; remove those yourself or restore into another database.`,
    );
    const left = await sql(
      t.url,
      "SELECT count(*)::int AS n FROM pg_event_trigger WHERE evtname = 'audit_ddl'",
    );
    expect(left.rows[0]).toEqual({ n: 1 });
    expect(await sums(t.url)).toEqual(atSnapshot);
  });

  it('refuses to restore onto the source database, reached by another URL, unless --overwrite-source', async () => {
    // the same database through the server's unix socket: another address, the same database
    const dir = (await sql(source.url, 'SHOW unix_socket_directories')).rows[0] as {
      unix_socket_directories: string;
    };
    const socket = `postgres://postgres@localhost:${new URL(source.url).port}/${source.name}?host=${encodeURIComponent(dir.unix_socket_directories.split(',')[0]!.trim())}`;
    await sql(source.url, "INSERT INTO contacts (name) VALUES ('after the snapshot')");
    const changed = await sums(source.url);

    const refused = await cli(['--target', socket, '--snapshot', snapshotId, '--clean']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n').at(-1)).toBe(
      `crm-backup: The target is the database snapshot ${snapshotId.slice(0, 12)} was taken from (the same database, by the identity the server reports); restore into another database, or pass --overwrite-source to replace the source with the snapshot.`,
    );
    expect(await sums(source.url)).toEqual(changed);

    const overwritten = await cli([
      '--target',
      socket,
      '--snapshot',
      snapshotId,
      '--clean',
      '--overwrite-source',
    ]);
    expect(overwritten.code, overwritten.stderr).toBe(0);
    expect(events(overwritten, 'restore.overwrite-source')).toEqual([
      `Restoring onto the database snapshot ${snapshotId.slice(0, 12)} was taken from (the same database, by the identity the server reports), as --overwrite-source asks.`,
    ]);
    expect(await sums(source.url)).toEqual(atSnapshot);
  });

  it('compares addresses for a snapshot that recorded no identity, and says so', async () => {
    // a snapshot as crm-backup wrote them before identities were recorded
    const older: DriverModule = {
      ...driver,
      openSource: async (url, opts) => {
        const src = await driver.openSource(url, opts);
        return Object.assign(Object.create(src) as typeof src, {
          openSnapshot: async (o: Parameters<typeof src.openSnapshot>[0]) => {
            const reader = await src.openSnapshot(o);
            const meta = { ...reader.meta };
            delete meta[SOURCE_IDENTITY_META];
            return { ...reader, meta };
          },
        });
      },
    };
    const repo = await tempRepo();
    try {
      const old = await runSnapshot({
        repo: repo.repo,
        driver: older,
        sourceUrl: source.url,
        name: 'old',
        tags: [],
        jobs: 1,
        log: memoryLogger(),
      });
      const drivers = { byKind: async () => driver, forUrl: async () => driver };
      const onto = (url: string, log = memoryLogger()) =>
        restore({
          repo: repo.repo,
          targetUrl: url,
          target: { kind: 'snapshot', id: old.id },
          jobs: 1,
          clean: true,
          log,
          drivers,
        });
      const address = (url: string): string => {
        const u = new URL(url);
        return `${u.hostname}:${u.port}${u.pathname}`;
      };
      await expect(onto(source.url)).rejects.toThrow(
        `The target is the database snapshot ${old.id.slice(0, 12)} was taken from (the same address ${address(source.url)}); restore into another database, or pass --overwrite-source to replace the source with the snapshot.`,
      );
      const t = await target();
      const log = memoryLogger();
      await onto(t.url, log);
      expect(log.events.filter((e) => e.event === 'restore.source-check').map((e) => e.message)).toEqual([
        `Whether the target is the source database was checked by address only, since snapshot ${old.id.slice(0, 12)} records no identity of its source database (an older crm-backup took it): ${address(t.url)} is not ${address(source.url)}, but make sure it is not the source under another name.`,
      ]);
    } finally {
      await repo.dispose();
    }
  });
});
