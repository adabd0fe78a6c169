/**
 * The minimal role the README documents, run as written (#10 item 9): it passes doctor, takes
 * snapshots, streams (a publication listing the tables, new tables added as they appear) and a
 * restore --at equals the source table by table. doctor and stream agree on a role that lacks
 * what they need, and rows a new table got before the stream could add it are never silently
 * missing from a restore.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { driver } from '../../drivers/postgres/index.js';
import { changeLogNames, ddlCaptureOffLine } from '../../drivers/postgres/change-log.js';
import { createPgDatabase, pgQuery as sql, type TestDatabase } from '../harness/index.js';
import { runCli, ROOT } from '../helpers/cli.js';
import { loggedStream } from '../helpers/logged-stream.js';
import { restoreInto, serverNowMicros, takeSnapshot, tempRepo, type TempRepo } from '../helpers/pitr.js';

const unique = Math.random().toString(36).slice(2, 8);
const BACKUP = `crmb_backup_${unique}`;
const OWNER = `crmb_owner_${unique}`;

/** The README's SQL for the minimal role, with this test's role and database names. */
async function readmeRoleSql(database: string): Promise<string> {
  const readme = await readFile(`${ROOT}/README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('### A role for backups (no superuser needed)'));
  const block = /```sql\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README.md has no SQL block in "A role for backups"');
  return block
    .replace(/\bcrm_backup\b/g, BACKUP)
    .replace(/\bcrm_owner\b/g, OWNER)
    .replace(/\bDATABASE crm\b/g, `DATABASE "${database}"`);
}

describe('postgres: the minimal backup role of the README', () => {
  let tr: TempRepo;
  let db: TestDatabase;
  let asBackup: string;
  /** The source's name, as doctor and stream derive it from the URL, and its publication. */
  let name: string;
  let publication: string;
  const targets: TestDatabase[] = [];
  const target = async (): Promise<TestDatabase> => {
    const t = await createPgDatabase('role_dst');
    targets.push(t);
    return t;
  };
  /** The application: the owner of the CRM's tables. */
  const app = (text: string): Promise<unknown> => sql(db.url, `SET ROLE ${OWNER}; ${text}`);

  beforeAll(async () => {
    tr = await tempRepo();
    db = await createPgDatabase('role_src');
    // as on a managed service: the CRM's tables belong to an ordinary role owning the database
    await sql(db.url, `CREATE ROLE ${OWNER}; ALTER DATABASE "${db.name}" OWNER TO ${OWNER}`);
    await app(
      `CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL);
       CREATE TABLE activity (account int, what text);
       INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 30) g;
       INSERT INTO activity SELECT g % 30 + 1, 'seeded ' || g FROM generate_series(1, 60) g;`,
    );
    await sql(db.url, await readmeRoleSql(db.name));
    const u = new URL(db.url);
    u.username = BACKUP;
    asBackup = u.toString();
    name = `${u.hostname}:${u.port}/${db.name}`;
    publication = changeLogNames(name).publication;
  });
  afterAll(async () => {
    for (const t of targets) await t.drop().catch(() => {});
    await db?.drop();
    await tr?.dispose();
    await sql(
      new URL('/postgres', db.url).toString(),
      `DROP ROLE IF EXISTS ${BACKUP}; DROP ROLE IF EXISTS ${OWNER}`,
    ).catch(() => {});
  });

  it('passes doctor, snapshot and stream, and a restore --at equals the source', async () => {
    const doctor = await runCli(['doctor', '--source', asBackup]);
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(doctor.stdout).toContain(
      `warn  [pg.ddl_capture] Role "${BACKUP}" is not a superuser, so the stream cannot install DDL capture (event triggers), and schema changes made while streaming are not in the log.`,
    );
    expect(doctor.stdout).toContain(
      `info  [pg.publication] The stream will create publication ${publication} listing the tables, since role "${BACKUP}" is not a superuser, and add tables created later within seconds.`,
    );

    const stream = loggedStream(tr.repo, driver, asBackup, name);
    try {
      await stream.started;
      expect(stream.sourceLines()).toEqual(
        expect.arrayContaining([
          ddlCaptureOffLine(BACKUP),
          expect.stringMatching(/^Set REPLICA IDENTITY FULL on table public\.activity \(it was DEFAULT/),
          `Created publication ${publication} listing the 2 table(s) of the source, since only a superuser may create one FOR ALL TABLES: the stream adds tables created later within seconds (rows written to one before that are not in the log, and restores to a later time refuse until the next snapshot); "stream --drop" removes it.`,
        ]),
      );
      await takeSnapshot(tr.repo, driver, asBackup, name);
      // the application goes on, and creates a table while the stream runs
      await app(
        `UPDATE accounts SET name = name || '!' WHERE id % 3 = 0; DELETE FROM accounts WHERE id = 7;
         UPDATE activity SET what = 'changed' WHERE account = 2; DELETE FROM activity WHERE account = 3;
         CREATE TABLE invoices (id int PRIMARY KEY, amount numeric);
         CREATE TABLE visits (account int, page text);`,
      );
      await stream.waitLine(
        /^Added table public\.invoices, created after the stream started, to publication /,
      );
      // without a key: it gets REPLICA IDENTITY FULL on the way in, or its UPDATEs would fail
      await stream.waitLine(/^Added table public\.visits, created after the stream started, to publication /);
      expect(stream.sourceLines()).toContain(
        'Set REPLICA IDENTITY FULL on table public.visits (it was DEFAULT, and the table has no primary key or usable replica identity index, so its UPDATEs and DELETEs could not be captured and, once published, would fail); "stream --drop" puts DEFAULT back.',
      );
      await app(
        `INSERT INTO invoices SELECT g, g * 1.5 FROM generate_series(1, 25) g;
         UPDATE invoices SET amount = 0 WHERE id = 3; DELETE FROM invoices WHERE id = 4;
         INSERT INTO visits SELECT g % 5, 'p' || g FROM generate_series(1, 12) g;
         UPDATE visits SET page = 'seen' WHERE account = 1; DELETE FROM visits WHERE account = 2;
         INSERT INTO activity VALUES (1, 'after the snapshot');`,
      );
      const at = await serverNowMicros(db.url);
      await stream.waitCovered(at);
      const t = await target();
      await restoreInto(tr.repo, driver, name, { kind: 'time', micros: at }, t.url);
      expect(await pgTableChecksums(t.url)).toEqual(await pgTableChecksums(db.url));
    } finally {
      await stream.stop();
    }
  });

  it('rows a new table got before the stream could add it: said at once, and a restore past that refuses until the next snapshot', async () => {
    const stream = loggedStream(tr.repo, driver, asBackup, name);
    try {
      await stream.started;
      // created with rows in one transaction: no stream can have published them
      await app(`BEGIN; CREATE TABLE imported (id int PRIMARY KEY, v text);
                 INSERT INTO imported SELECT g, 'v' FROM generate_series(1, 5) g; COMMIT;`);
      expect(await stream.waitLine(/^Added table public\.imported/)).toBe(
        `Added table public.imported to publication ${publication}, but it already held rows, which are not in the log: restores to a time between now and the next snapshot refuse, so take one now ("crm-backup snapshot").`,
      );
      await app(`INSERT INTO imported VALUES (6, 'after')`);
      const at = await serverNowMicros(db.url);
      await stream.waitCovered(at);
      await expect(
        restoreInto(tr.repo, driver, name, { kind: 'time', micros: at }, (await target()).url),
      ).rejects.toThrow(
        'Table public.imported got rows before the stream could add it to its publication (its role is not a superuser), so the log lacks them and cannot restore it exactly after that point; restore to an earlier time, or from a snapshot taken after it.',
      );

      await takeSnapshot(tr.repo, driver, asBackup, name);
      await app(`UPDATE imported SET v = 'later' WHERE id < 3`);
      const later = await serverNowMicros(db.url);
      await stream.waitCovered(later);
      const t = await target();
      await restoreInto(tr.repo, driver, name, { kind: 'time', micros: later }, t.url);
      expect(await pgTableChecksums(t.url)).toEqual(await pgTableChecksums(db.url));
    } finally {
      await stream.stop();
    }
  });

  it('stream --drop as that role removes what its stream made and puts the replica identities back', async () => {
    // the server may hold the stopped stream's walsender a moment longer: the drop waits for it
    let drop = await runCli(['stream', '--source', asBackup, '--drop']);
    for (let i = 0; drop.code !== 0 && /is in use by a running stream/.test(drop.stderr) && i < 50; i++)
      drop = await runCli(['stream', '--source', asBackup, '--drop']);
    expect(drop.code, drop.stderr).toBe(0);
    const lines = drop.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { message: string }).message);
    expect(lines).toEqual([
      `Dropped replication slot ${publication}.`,
      `Dropped publication ${publication}.`,
      'Set REPLICA IDENTITY DEFAULT on table public.activity again, as it was before the stream set FULL.',
      'Set REPLICA IDENTITY DEFAULT on table public.visits again, as it was before the stream set FULL.',
      'Dropped schema crmb and the functions in it.',
      `Removed the change-log state of ${name} from the source.`,
    ]);
  });

  it('doctor and the stream refuse alike a role without its tables owner rights', async () => {
    await sql(db.url, `REVOKE ${OWNER} FROM ${BACKUP}`);
    try {
      const doctor = await runCli(['doctor', '--source', asBackup]);
      expect(doctor.code).toBe(1);
      const message = `Role "${BACKUP}" lacks the owner's rights on 5 table(s) (public.accounts, public.activity, public.imported, public.invoices, public.visits), which a publication listing them needs (only a superuser may publish FOR ALL TABLES).`;
      const fix = `GRANT "${OWNER}" TO "${BACKUP}";`;
      expect(doctor.stdout).toContain(`FAIL  [pg.table_owner] ${message}\n      Fix: ${fix}\n`);
      const stream = loggedStream(tr.repo, driver, asBackup, name);
      await expect(stream.started).rejects.toThrow(`${message} ${fix}`);
    } finally {
      await sql(db.url, `GRANT ${OWNER} TO ${BACKUP}`);
    }
  });
});
