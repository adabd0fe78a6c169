/**
 * What the stream changes on the source (#10 item 10): each change logged as one line when it is
 * made, listed by doctor before and after, and undone by `stream --drop`, which prints what it
 * removed and puts back the REPLICA IDENTITY of each table the stream changed (only those); a
 * running stream is named by its client, with the server process it talks to called that.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { createPgDatabase, pgQuery as sql, type TestDatabase } from '../harness/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { loggedStream } from '../helpers/logged-stream.js';
import { tempRepo, type TempRepo } from '../helpers/pitr.js';

const CAPTURE =
  'schema crmb with its functions (crmb.on_ddl_end, crmb.on_sql_drop, crmb.on_table_rewrite, crmb.emit_rewritten, crmb.emit_missing, crmb.emit_rows), and event triggers crmb_sql_drop, crmb_ddl_end and crmb_table_rewrite (ENABLE ALWAYS)';

/** The messages of the JSON log lines of one event on stderr. */
function events(r: CliResult, event: string): string[] {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { event: string; message: string })
    .filter((e) => e.event === event)
    .map((e) => e.message);
}

const fullLine = (table: string, was: string): string =>
  `Set REPLICA IDENTITY FULL on table ${table} (it was ${was}, and the table has no primary key or usable replica identity index, so its UPDATEs and DELETEs could not be captured and, once published, would fail); "stream --drop" puts ${was} back.`;

describe('postgres stream: changes to the source', () => {
  let tr: TempRepo;
  let db: TestDatabase;
  const name = 'changes';

  beforeAll(async () => {
    tr = await tempRepo();
    db = await createPgDatabase('source_changes');
    await sql(
      db.url,
      `CREATE TABLE keyed (id int PRIMARY KEY, v text);
       CREATE TABLE loose (a int, b text);
       CREATE TABLE quiet (a int, b text);
       ALTER TABLE quiet REPLICA IDENTITY NOTHING;
       CREATE TABLE mine (a int, b text);
       ALTER TABLE mine REPLICA IDENTITY FULL;
       INSERT INTO loose VALUES (1, 'x');`,
    );
  });
  afterAll(async () => {
    await db?.drop();
    await tr?.dispose();
  });

  it('doctor lists, the stream logs and stream --drop undoes every change to the source', async () => {
    const doctor = (): Promise<CliResult> => runCli(['doctor', '--source', db.url, '--name', name]);
    const before = await doctor();
    expect(before.code, before.stderr).toBe(0);
    for (const line of [
      `info  [pg.publication] The stream will create publication crmb_${name} FOR ALL TABLES.`,
      `info  [pg.stream_slot] The stream will create replication slot crmb_${name}, which keeps the WAL the stream has not stored yet, also while the stream is stopped.`,
      `info  [pg.ddl_capture] The stream will install DDL capture: ${CAPTURE}.`,
      `info  [pg.replica_identity] Table "public"."loose" has no primary key and no usable replica identity; the stream sets REPLICA IDENTITY FULL on it, so that its UPDATEs and DELETEs are logged with the whole old row, and "stream --drop" puts the setting back.`,
      `info  [pg.replica_identity] Table "public"."quiet" has no primary key and no usable replica identity; the stream sets REPLICA IDENTITY FULL on it, so that its UPDATEs and DELETEs are logged with the whole old row, and "stream --drop" puts the setting back.`,
    ])
      expect(before.stdout).toContain(line);
    expect(before.stdout).not.toContain('cannot be captured');

    const stream = loggedStream(tr.repo, driver, db.url, name);
    try {
      await stream.started;
      expect(stream.sourceLines()).toEqual([
        'Created schema crmb and function crmb.remember_identity on the source, which records the REPLICA IDENTITY of each table the stream changes so that "stream --drop" can put it back.',
        `Installed DDL capture on the source: ${CAPTURE}, which put each schema change into the log in its own transaction and give new tables without a key REPLICA IDENTITY FULL; "stream --drop" removes them.`,
        fullLine('public.loose', 'DEFAULT'),
        fullLine('public.quiet', 'NOTHING'),
        `Created publication crmb_${name} FOR ALL TABLES on the source: logical decoding sends the changes of the tables in a publication only; "stream --drop" removes it.`,
        `Created replication slot crmb_${name} on the source: it keeps the WAL the stream has not stored yet, also while the stream is stopped; "stream --drop" removes it.`,
      ]);
      // a keyless table created while streaming: the DDL capture trigger fixes and records it
      await sql(db.url, 'CREATE TABLE born (a int)');

      // the walsender's PID is the server's, not crm-backup's: the message says whose it is
      const busy = await runCli(['stream', '--source', db.url, '--name', name, '--drop']);
      expect(busy.code).toBe(1);
      expect(busy.stderr.trim().split('\n').at(-1)).toMatch(
        new RegExp(
          `^crm-backup: Replication slot "crmb_${name}" is in use by a running stream \\(crm-backup connected from 127\\.0\\.0\\.1 since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ, served by PostgreSQL server process \\d+\\); stop that stream before dropping its change log\\.$`,
        ),
      );
    } finally {
      await stream.stop();
    }

    const after = await doctor();
    expect(after.code, after.stderr).toBe(0);
    for (const line of [
      `ok    [pg.ddl_capture] DDL capture is installed: ${CAPTURE}.`,
      `info  [pg.replica_identity] Table public.born has REPLICA IDENTITY FULL, set by the stream (it was DEFAULT); "stream --drop" puts DEFAULT back.`,
      `info  [pg.replica_identity] Table public.loose has REPLICA IDENTITY FULL, set by the stream (it was DEFAULT); "stream --drop" puts DEFAULT back.`,
      `info  [pg.replica_identity] Table public.quiet has REPLICA IDENTITY FULL, set by the stream (it was NOTHING); "stream --drop" puts NOTHING back.`,
    ])
      expect(after.stdout).toContain(line);
    expect(after.stdout).toMatch(
      new RegExp(
        `ok {4}\\[pg\\.publication\\] Publication crmb_${name} exists \\(FOR ALL TABLES\\), created by the stream\\.`,
      ),
    );
    expect(after.stdout).toMatch(
      new RegExp(
        `ok {4}\\[pg\\.stream_slot\\] Replication slot crmb_${name} exists \\(no stream running, keeping .* of WAL\\), created by the stream\\.`,
      ),
    );
    expect(after.stdout).not.toContain('mine');

    // the walsender may hold the slot a moment after the stream ended
    let drop = await runCli(['stream', '--source', db.url, '--name', name, '--drop']);
    for (let i = 0; drop.code !== 0 && /is in use/.test(drop.stderr) && i < 50; i++)
      drop = await runCli(['stream', '--source', db.url, '--name', name, '--drop']);
    expect(drop.code, drop.stderr).toBe(0);
    expect(events(drop, 'stream.dropped')).toEqual([
      `Dropped replication slot crmb_${name}.`,
      `Dropped publication crmb_${name}.`,
      'Set REPLICA IDENTITY DEFAULT on table public.born again, as it was before the stream set FULL.',
      'Set REPLICA IDENTITY DEFAULT on table public.loose again, as it was before the stream set FULL.',
      'Set REPLICA IDENTITY NOTHING on table public.quiet again, as it was before the stream set FULL.',
      'Dropped event triggers crmb_sql_drop, crmb_ddl_end and crmb_table_rewrite.',
      'Dropped schema crmb and the functions in it.',
      `Removed the change-log state of ${name} from the source.`,
    ]);
    const state = await sql(
      db.url,
      `SELECT (SELECT json_object_agg(relname, relreplident ORDER BY relname) FROM pg_class
                WHERE relname IN ('keyed', 'loose', 'quiet', 'mine', 'born') AND relkind = 'r') AS identities,
              (SELECT count(*)::int FROM pg_namespace WHERE nspname = 'crmb') AS schemas,
              (SELECT count(*)::int FROM pg_event_trigger) AS triggers,
              (SELECT count(*)::int FROM pg_publication) AS publications,
              (SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()) AS slots`,
    );
    expect(state.rows[0]).toEqual({
      // the DBA's own FULL on `mine` stays
      identities: { born: 'd', keyed: 'd', loose: 'd', mine: 'f', quiet: 'n' },
      schemas: 0,
      triggers: 0,
      publications: 0,
      slots: 0,
    });
  });
});
