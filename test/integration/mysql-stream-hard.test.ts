/**
 * The hard cases of the MySQL/MariaDB change log, end to end and each its own test: a snapshot,
 * changes made while the stream runs, then `restore --at` an instant after the changes through
 * the real repository and the real binlog, and the target compared with the source: per-table
 * checksums of ordered rows (scripts/crm/checksums.ts, and the exact-bytes ones of
 * test/helpers/mysql.ts), SHOW CREATE TABLE of every table and the triggers.
 *
 * The file runs on a MariaDB of its own (or CRMB_TEST_MYSQL_URL): it rotates binlogs and writes a
 * 1-million-row transaction, which every other stream on a shared server would have to read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/mysql/index.js';
import { decodePayload } from '../../drivers/mysql/internal/payload.js';
import { parsePosition } from '../../drivers/mysql/internal/position.js';
import { mysqlTableChecksums } from '../../scripts/crm/checksums.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import type { RestoreSummary } from '../../src/restore/restore.js';
import { createMysqlDatabase, mysqlStartOwnServer, type TestDatabase } from '../harness/index.js';
import type { ThrowawayServer } from '../harness/server.js';
import { mysqlChecksums, mysqlCounters, mysqlExec } from '../helpers/mysql.js';
import {
  restoreInto,
  serverNowMicros,
  startStream,
  takeSnapshot,
  tempRepo,
  type RunningStream,
  type TempRepo,
} from '../helpers/pitr.js';

const quote = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

let server: ThrowawayServer | undefined;
let serverUrl = '';
let tr: TempRepo;
const databases: TestDatabase[] = [];
const streams: RunningStream[] = [];

beforeAll(async () => {
  const external = process.env.CRMB_TEST_MYSQL_URL;
  if (external) serverUrl = external;
  else {
    // "traditional" AUTO_INCREMENT locking: a bulk insert reserves no ids beyond those it uses,
    // so the source's counter is one past the highest id it handed out, which a restore must reach
    server = await mysqlStartOwnServer({ settings: { 'innodb-autoinc-lock-mode': '0' } });
    serverUrl = server.url;
  }
  tr = await tempRepo();
});
afterAll(async () => {
  // a test that failed before its restore left its stream running
  for (const st of streams) await st.stop().catch(() => {});
  for (const d of databases) await d.drop().catch(() => {});
  await tr?.dispose();
  await server?.stop();
});

async function database(label: string): Promise<TestDatabase> {
  const d = await createMysqlDatabase(label, serverUrl);
  databases.push(d);
  return d;
}

/** SHOW CREATE TABLE of every base table (without the AUTO_INCREMENT counter), and the triggers. */
async function schemaOf(url: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const tables = (await mysqlExec(
    url,
    "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
  )) as Array<{ t: string }>;
  for (const { t } of tables) {
    const [row] = (await mysqlExec(url, `SHOW CREATE TABLE ${quote(t)}`)) as Array<Record<string, string>>;
    out[`table ${t}`] = String(row?.['Create Table']).replace(/ AUTO_INCREMENT=\d+/, '');
  }
  const triggers = (await mysqlExec(
    url,
    `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS t, ACTION_TIMING AS timing, EVENT_MANIPULATION AS op,
            ACTION_ORDER AS n, ACTION_STATEMENT AS body, SQL_MODE AS mode
       FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1`,
  )) as Array<Record<string, unknown>>;
  for (const tg of triggers) out[`trigger ${String(tg.name)}`] = JSON.stringify(tg);
  return out;
}

/** The target equals the source: rows (two independent checksums), table definitions, triggers. */
async function expectSame(source: string, target: string): Promise<void> {
  const want = await mysqlTableChecksums(source);
  expect(await mysqlTableChecksums(target)).toEqual(want);
  expect(await mysqlChecksums(target)).toEqual(await mysqlChecksums(source));
  expect(await schemaOf(target)).toEqual(await schemaOf(source));
  // the restored CRM never hands out an id the source already gave (where the server's counter
  // is exactly one past the highest id handed out: see the server's settings above)
  const [s, t] = [await mysqlCounters(source), await mysqlCounters(target)];
  expect(Object.keys(t).sort()).toEqual(Object.keys(s).sort());
  const [mode] = (await mysqlExec(source, 'SELECT @@innodb_autoinc_lock_mode AS m')) as Array<{ m: number }>;
  if (Number(mode?.m) === 0)
    for (const [table, n] of Object.entries(s)) expect(t[table], table).toBeGreaterThanOrEqual(n);
}

interface Run {
  readonly source: TestDatabase;
  readonly name: string;
  readonly stream: RunningStream;
}

/** A source database seeded with `seed`, a stream of it, and a snapshot taken while it streams. */
async function streamed(label: string, seed: string): Promise<Run> {
  const source = await database(`${label}_src`);
  if (seed) await mysqlExec(source.url, seed);
  const name = source.name;
  const stream = startStream(tr.repo, driver, source.url, name, 1);
  streams.push(stream);
  await stream.started;
  await takeSnapshot(tr.repo, driver, source.url, name);
  return { source, name, stream };
}

/** Stops the stream once the log covers now, and restores --at now into a new database. */
async function restoreNow(
  run: Run,
  opts: { tables?: string[] } = {},
): Promise<{ target: TestDatabase; summary: RestoreSummary; at: bigint }> {
  const at = await serverNowMicros(run.source.url);
  try {
    await run.stream.waitCovered(at, 120_000);
  } finally {
    await run.stream.stop();
  }
  const target = await database(`${run.name.slice(0, 20)}_dst`);
  const summary = await restoreInto(tr.repo, driver, run.name, { kind: 'time', micros: at }, target.url, opts);
  return { target, summary, at };
}

/** The stored transactions of a stream, in order (each part as stored). */
async function storedLog(name: string): Promise<Transaction[]> {
  const out: Transaction[] = [];
  for (const seg of await tr.repo.listSegments(name))
    for await (const tx of decodeSegment(tr.repo.readStream(seg.data), seg.id)) out.push(tx);
  return out;
}

describe('MySQL/MariaDB change log: hard cases, each restored --at through the repository', () => {
  it('ALTER TABLE mid-stream: ADD, DROP, MODIFY (type change), reorder (AFTER / FIRST), RENAME COLUMN; rows after each decode with the new definition', async () => {
    const run = await streamed(
      'alter',
      `CREATE TABLE acc (id int AUTO_INCREMENT PRIMARY KEY, name varchar(50) NOT NULL, n int, note text);
       INSERT INTO acc (name, n, note) SELECT CONCAT('a', seq), seq, REPEAT('x', seq) FROM seq_1_to_30;`,
    );
    const src = run.source.url;
    await mysqlExec(src, `INSERT INTO acc (name, n, note) VALUES ('before add', 31, 'b')`);
    await mysqlExec(src, `ALTER TABLE acc ADD COLUMN email varchar(100) NOT NULL DEFAULT 'none'`);
    await mysqlExec(
      src,
      `INSERT INTO acc (name, n, note, email) VALUES ('after add', 32, 'c', 'new@x');
       UPDATE acc SET email = CONCAT(name, '@x') WHERE id % 4 = 0;
       DELETE FROM acc WHERE id = 3`,
    );
    await mysqlExec(src, `ALTER TABLE acc DROP COLUMN note`);
    await mysqlExec(
      src,
      `INSERT INTO acc (name, n, email) VALUES ('after drop', 33, 'd@x');
       UPDATE acc SET n = -n WHERE id % 5 = 0; DELETE FROM acc WHERE id = 4`,
    );
    // int -> bigint: values only the new type holds, in rows old and new
    await mysqlExec(src, `ALTER TABLE acc MODIFY COLUMN n bigint`);
    await mysqlExec(
      src,
      `INSERT INTO acc (name, n, email) VALUES ('after modify', 9223372036854775807, 'e@x');
       UPDATE acc SET n = n * 4000000000 WHERE id % 3 = 0`,
    );
    // varchar -> text and a wider decimal built from an int
    await mysqlExec(src, `ALTER TABLE acc MODIFY COLUMN name text NOT NULL, ADD COLUMN amount decimal(30,10)`);
    await mysqlExec(src, `UPDATE acc SET amount = n / 7, name = CONCAT(name, REPEAT('é', 300)) WHERE id < 10`);
    // reorder: email right after id, then n first
    await mysqlExec(src, `ALTER TABLE acc MODIFY COLUMN email varchar(100) NOT NULL DEFAULT 'none' AFTER id`);
    await mysqlExec(src, `INSERT INTO acc (name, n, email) VALUES ('after reorder', 1, 'f@x')`);
    await mysqlExec(src, `ALTER TABLE acc MODIFY COLUMN n bigint FIRST`);
    await mysqlExec(
      src,
      `INSERT INTO acc (n, name, email) VALUES (2, 'after first', 'g@x');
       UPDATE acc SET email = 'moved' WHERE id IN (1, 2, 33); DELETE FROM acc WHERE id = 5`,
    );
    await mysqlExec(src, `ALTER TABLE acc RENAME COLUMN email TO mail, CHANGE COLUMN n num bigint`);
    await mysqlExec(
      src,
      `INSERT INTO acc (num, name, mail) VALUES (3, 'after rename', 'h@x'); UPDATE acc SET mail = 'renamed' WHERE id = 6`,
    );
    const { target } = await restoreNow(run);
    expect(await schemaOf(src)).toMatchObject({
      'table acc': expect.stringMatching(/\(\n {2}`num` bigint.*\n {2}`id` int.*\n {2}`mail` varchar/),
    });
    await expectSame(src, target.url);
  });

  it('CREATE TABLE (plain, LIKE, AS SELECT), TRUNCATE, RENAME TABLE and DROP TABLE mid-stream, with rows in between', async () => {
    const run = await streamed(
      'ddl',
      `CREATE TABLE keep (id int AUTO_INCREMENT PRIMARY KEY, v varchar(20));
       CREATE TABLE old_name (id int AUTO_INCREMENT PRIMARY KEY, v varchar(20));
       CREATE TABLE doomed (id int AUTO_INCREMENT PRIMARY KEY, v varchar(20));
       CREATE TABLE counted (id int AUTO_INCREMENT PRIMARY KEY, v varchar(20));
       INSERT INTO counted (v) SELECT 'c' FROM seq_1_to_20;
       CREATE TABLE swap_a (id int PRIMARY KEY, v char(1)); CREATE TABLE swap_b (id int PRIMARY KEY, v char(1));
       INSERT INTO keep (v) SELECT CONCAT('k', seq) FROM seq_1_to_50;
       INSERT INTO old_name (v) SELECT CONCAT('o', seq) FROM seq_1_to_20;
       INSERT INTO doomed (v) SELECT CONCAT('d', seq) FROM seq_1_to_20;
       INSERT INTO swap_a VALUES (1, 'a'); INSERT INTO swap_b VALUES (1, 'b'), (2, 'b');`,
    );
    const src = run.source.url;
    await mysqlExec(src, `CREATE TABLE fresh (id int AUTO_INCREMENT PRIMARY KEY, v varchar(20), at datetime(6))`);
    await mysqlExec(
      src,
      `INSERT INTO fresh (v, at) SELECT CONCAT('f', seq), '2026-01-01' + INTERVAL seq SECOND FROM seq_1_to_40;
       UPDATE fresh SET v = 'changed' WHERE id % 3 = 0; DELETE FROM fresh WHERE id > 35`,
    );
    // the counter passes the snapshot's, and the rows at the top go: the restore keeps it there
    await mysqlExec(src, `INSERT INTO counted (v) SELECT 'd' FROM seq_1_to_10; DELETE FROM counted WHERE id > 25`);
    await mysqlExec(src, `CREATE TABLE cloned LIKE fresh`);
    await mysqlExec(src, `INSERT INTO cloned SELECT * FROM fresh WHERE id < 10`);
    await mysqlExec(src, `CREATE TABLE selected (PRIMARY KEY (id)) AS SELECT id, v FROM keep WHERE id <= 25`);
    await mysqlExec(src, `UPDATE selected SET v = 'sel' WHERE id < 5`);
    await mysqlExec(src, `INSERT INTO keep (v) VALUES ('before truncate')`);
    await mysqlExec(src, `TRUNCATE TABLE keep`);
    await mysqlExec(src, `INSERT INTO keep (v) VALUES ('after truncate 1'), ('after truncate 2')`);
    await mysqlExec(src, `UPDATE old_name SET v = 'before rename' WHERE id = 1`);
    await mysqlExec(src, `RENAME TABLE old_name TO new_name`);
    await mysqlExec(src, `INSERT INTO new_name (v) VALUES ('after rename'); UPDATE new_name SET v = 'x' WHERE id = 2`);
    await mysqlExec(src, `ALTER TABLE new_name RENAME TO newer_name`);
    await mysqlExec(src, `DELETE FROM newer_name WHERE id = 3`);
    await mysqlExec(src, `RENAME TABLE swap_a TO swap_tmp, swap_b TO swap_a, swap_tmp TO swap_b`);
    await mysqlExec(src, `INSERT INTO swap_a VALUES (3, 'B'); INSERT INTO swap_b VALUES (2, 'A')`);
    await mysqlExec(src, `DELETE FROM doomed WHERE id < 5`);
    await mysqlExec(src, `DROP TABLE doomed`);
    await mysqlExec(src, `DROP TABLE IF EXISTS never_was`);
    await mysqlExec(src, `DROP TABLE cloned`);
    await mysqlExec(src, `CREATE TABLE cloned (x int PRIMARY KEY); INSERT INTO cloned VALUES (7)`);
    const { target } = await restoreNow(run);
    expect(Object.keys(await schemaOf(src)).sort()).toEqual(
      ['cloned', 'counted', 'fresh', 'keep', 'newer_name', 'selected', 'swap_a', 'swap_b'].map((t) => `table ${t}`),
    );
    await expectSame(src, target.url);
  });

  it('ON DELETE / ON UPDATE CASCADE and SET NULL: the binlog holds only the parent rows, and the replay cascades exactly once', async () => {
    const run = await streamed(
      'cascade',
      `CREATE TABLE parent (id int PRIMARY KEY, v varchar(10));
       CREATE TABLE child (id int PRIMARY KEY, parent_id int, v varchar(10),
         CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE);
       CREATE TABLE grandchild (id int PRIMARY KEY, child_id int, loose_parent int,
         CONSTRAINT gc_child FOREIGN KEY (child_id) REFERENCES child (id) ON DELETE CASCADE ON UPDATE CASCADE,
         CONSTRAINT gc_parent FOREIGN KEY (loose_parent) REFERENCES parent (id) ON DELETE SET NULL ON UPDATE SET NULL);
       CREATE TABLE tree (id int PRIMARY KEY, up int, KEY (up),
         CONSTRAINT tree_up FOREIGN KEY (up) REFERENCES tree (id) ON DELETE CASCADE);
       INSERT INTO parent SELECT seq, CONCAT('p', seq) FROM seq_1_to_10;
       INSERT INTO child SELECT seq, 1 + seq % 10, CONCAT('c', seq) FROM seq_1_to_40;
       INSERT INTO grandchild SELECT seq, 1 + seq % 40, 1 + seq % 10 FROM seq_1_to_80;
       INSERT INTO tree VALUES (1, NULL), (2, 1), (3, 2), (4, 1), (10, NULL), (11, 10), (12, 11);`,
    );
    const src = run.source.url;
    const tally =
      'SELECT (SELECT COUNT(*) FROM child) AS c, (SELECT COUNT(*) FROM grandchild) AS g, (SELECT COUNT(*) FROM grandchild WHERE loose_parent IS NULL) AS n, (SELECT COUNT(*) FROM tree) AS t';
    await mysqlExec(src, `INSERT INTO parent VALUES (11, 'p11'); INSERT INTO child VALUES (41, 11, 'c41')`);
    await mysqlExec(src, `DELETE FROM parent WHERE id = 2`);
    await mysqlExec(src, `UPDATE parent SET id = 100 WHERE id = 3`);
    await mysqlExec(src, `UPDATE child SET id = id + 1000 WHERE parent_id = 4`);
    await mysqlExec(
      src,
      `START TRANSACTION; DELETE FROM parent WHERE id IN (5, 11); UPDATE parent SET v = 'kept' WHERE id = 6; COMMIT`,
    );
    // a tree: one delete cascading down two levels, and one deleting leaves before their parent
    await mysqlExec(src, `DELETE FROM tree WHERE id = 1`);
    await mysqlExec(src, `START TRANSACTION; DELETE FROM tree WHERE id = 12; DELETE FROM tree WHERE id = 11; DELETE FROM tree WHERE id = 10; COMMIT`);
    // a session with foreign_key_checks off cascades nothing, and the replay must not either
    await mysqlExec(
      src,
      `SET SESSION foreign_key_checks = 0;
       DELETE FROM parent WHERE id = 7; INSERT INTO child VALUES (500, 999, 'orphan'); UPDATE parent SET id = 800 WHERE id = 8;
       SET SESSION foreign_key_checks = 1;
       DELETE FROM parent WHERE id = 9`,
    );
    // DDL the source ran with checks off replays with them off: a foreign key to a table that does
    // not exist yet; the orphans it lets in stay, and a later delete of their parent cascades
    await mysqlExec(
      src,
      `SET SESSION foreign_key_checks = 0;
       CREATE TABLE late_child (id int PRIMARY KEY, p int,
         CONSTRAINT late_fk FOREIGN KEY (p) REFERENCES late_parent (id) ON DELETE CASCADE);
       INSERT INTO late_child VALUES (1, 5), (2, 6), (3, 6);
       SET SESSION foreign_key_checks = 1;
       CREATE TABLE late_parent (id int PRIMARY KEY);
       INSERT INTO late_parent VALUES (6); DELETE FROM late_parent WHERE id = 6`,
    );
    expect(await mysqlExec(src, 'SELECT id FROM late_child')).toEqual([{ id: 1 }]);
    const counts = await mysqlExec(src, tally);
    const { target } = await restoreNow(run);
    // MariaDB 10.11 (and MySQL 8.x, and 9.x with InnoDB's own foreign keys) makes cascades inside
    // InnoDB, below the binlog: the log holds the parent's rows only, so the replay lets the
    // target's foreign keys cascade (with foreign_key_checks as the source's session had it).
    // MySQL 9.6+ with SQL-layer foreign keys (innodb_native_foreign_keys=OFF) logs the cascaded
    // rows too; that server is not tested here.
    const deletes = (await storedLog(run.name)).filter((t) =>
      [...decodePayload(t.payload)].some((r) => r.kind === 'delete' && r.table.table === 'parent'),
    );
    expect(deletes.map((t) => [t.tables, t.changes])).toEqual([
      [[`${run.source.name}.parent`], 1],
      [[`${run.source.name}.parent`], 3],
      [[`${run.source.name}.parent`], 1],
      [[`${run.source.name}.parent`], 1],
    ]);
    expect(await mysqlExec(target.url, tally)).toEqual(counts);
    await expectSame(src, target.url);
  });

  it('a table written by triggers: their rows come from the log, the triggers do not fire during replay and exist afterwards', async () => {
    const run = await streamed(
      'trigger',
      `CREATE TABLE contacts (id int AUTO_INCREMENT PRIMARY KEY, name varchar(50), score int NOT NULL DEFAULT 0);
       CREATE TABLE audit (id int AUTO_INCREMENT PRIMARY KEY, contact_id int, what varchar(10), name varchar(50));
       CREATE TABLE totals (k int PRIMARY KEY, n int NOT NULL);
       INSERT INTO totals VALUES (1, 0);
       CREATE TRIGGER contacts_ins AFTER INSERT ON contacts FOR EACH ROW
         INSERT INTO audit (contact_id, what, name) VALUES (NEW.id, 'insert', NEW.name);
       CREATE TRIGGER contacts_upd AFTER UPDATE ON contacts FOR EACH ROW
         INSERT INTO audit (contact_id, what, name) VALUES (NEW.id, 'update', NEW.name);
       CREATE TRIGGER contacts_del BEFORE DELETE ON contacts FOR EACH ROW
         INSERT INTO audit (contact_id, what, name) VALUES (OLD.id, 'delete', OLD.name);
       CREATE TRIGGER contacts_count AFTER INSERT ON contacts FOR EACH ROW FOLLOWS contacts_ins
         UPDATE totals SET n = n + 1 WHERE k = 1;
       CREATE TRIGGER contacts_score BEFORE INSERT ON contacts FOR EACH ROW SET NEW.score = NEW.score + 10;
       INSERT INTO contacts (name) VALUES ('before snapshot');`,
    );
    const src = run.source.url;
    await mysqlExec(
      src,
      `INSERT INTO contacts (name) SELECT CONCAT('c', seq) FROM seq_1_to_20;
       UPDATE contacts SET name = CONCAT(name, '!') WHERE id % 3 = 0;
       DELETE FROM contacts WHERE id IN (2, 4)`,
    );
    await mysqlExec(src, `START TRANSACTION; INSERT INTO contacts (name, score) VALUES ('in tx', 5); UPDATE contacts SET score = 1 WHERE id = 1; COMMIT`);
    const audit = await mysqlExec(src, 'SELECT COUNT(*) AS n FROM audit');
    // 1 before the snapshot, 20 + 7 updated + 2 deleted, 2 in the transaction
    expect(audit).toEqual([{ n: '32' }]);
    const { target } = await restoreNow(run);
    expect(await mysqlExec(target.url, 'SELECT COUNT(*) AS n FROM audit')).toEqual(audit);
    expect(await mysqlExec(target.url, 'SELECT n FROM totals')).toEqual(await mysqlExec(src, 'SELECT n FROM totals'));
    await expectSame(src, target.url);
    // and they work on the restored database
    await mysqlExec(target.url, `INSERT INTO contacts (name) VALUES ('after restore')`);
    expect(await mysqlExec(target.url, `SELECT what, score FROM audit JOIN contacts ON contacts.id = contact_id WHERE contacts.name = 'after restore'`)).toEqual([{ what: 'insert', score: 10 }]);
  });

  it('triggers created, dropped, reordered and carried along by RENAME and DROP TABLE mid-stream: none fires during the replay, and the target ends with the source’s', async () => {
    const run = await streamed(
      'trigger_ddl',
      `CREATE TABLE deals (id int AUTO_INCREMENT PRIMARY KEY, amount int);
       CREATE TABLE log (id int AUTO_INCREMENT PRIMARY KEY, deal int, what varchar(20));
       CREATE TABLE scratch (id int PRIMARY KEY);
       CREATE TRIGGER deals_old AFTER UPDATE ON deals FOR EACH ROW INSERT INTO log (deal, what) VALUES (NEW.id, 'old');
       CREATE TRIGGER deals_keep AFTER DELETE ON deals FOR EACH ROW INSERT INTO log (deal, what) VALUES (OLD.id, 'deleted');
       CREATE TRIGGER scratch_log AFTER INSERT ON scratch FOR EACH ROW INSERT INTO log (deal, what) VALUES (NEW.id, 'scratch');
       INSERT INTO deals (amount) VALUES (1), (2);`,
    );
    const src = run.source.url;
    await mysqlExec(src, `UPDATE deals SET amount = amount + 1`);
    await mysqlExec(src, `DROP TRIGGER deals_old`);
    await mysqlExec(src, `UPDATE deals SET amount = amount + 1; INSERT INTO scratch VALUES (1)`);
    await mysqlExec(
      src,
      `CREATE TRIGGER deals_new AFTER INSERT ON deals FOR EACH ROW INSERT INTO log (deal, what) VALUES (NEW.id, 'new')`,
    );
    // a BEFORE trigger that changes the row: fired again, it would change the logged values
    await mysqlExec(
      src,
      `CREATE TRIGGER deals_double BEFORE INSERT ON deals FOR EACH ROW SET NEW.amount = NEW.amount * 2`,
    );
    await mysqlExec(
      src,
      `CREATE TRIGGER deals_first AFTER INSERT ON deals FOR EACH ROW PRECEDES deals_new INSERT INTO log (deal, what) VALUES (NEW.id, 'first')`,
    );
    await mysqlExec(src, `INSERT INTO deals (amount) VALUES (3), (4); UPDATE deals SET amount = 0 WHERE id = 1; DELETE FROM deals WHERE id = 2`);
    // the triggers go with their table
    await mysqlExec(src, `RENAME TABLE deals TO offers`);
    await mysqlExec(src, `INSERT INTO offers (amount) VALUES (5); DELETE FROM offers WHERE id = 3`);
    await mysqlExec(src, `DROP TABLE scratch`);
    await mysqlExec(src, `CREATE TABLE scratch (id int PRIMARY KEY); INSERT INTO scratch VALUES (2)`);
    expect(await mysqlExec(src, 'SELECT what FROM log ORDER BY id')).toEqual(
      ['old', 'old', 'scratch', 'first', 'new', 'first', 'new', 'deleted', 'first', 'new', 'deleted'].map((what) => ({
        what,
      })),
    );
    const { target } = await restoreNow(run);
    await expectSame(src, target.url);
    const order = `SELECT TRIGGER_NAME AS n, ACTION_ORDER AS o FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1`;
    expect(await mysqlExec(target.url, order)).toEqual(await mysqlExec(src, order));
    // the restored triggers work
    await mysqlExec(target.url, `INSERT INTO offers (amount) VALUES (10)`);
    expect(await mysqlExec(target.url, 'SELECT amount FROM offers WHERE id = 6')).toEqual([{ amount: 20 }]);
    expect(await mysqlExec(target.url, 'SELECT what FROM log WHERE deal = 6 ORDER BY id')).toEqual([
      { what: 'first' },
      { what: 'new' },
    ]);
  });

  it('identifiers with backticks, spaces and non-ASCII, in snapshot, rows and DDL', async () => {
    const t = 'my `odd` table';
    const k = 'Kundennummer ä';
    const run = await streamed(
      'idents',
      `CREATE TABLE ${quote(t)} (${quote(k)} int PRIMARY KEY, ${quote('Straße / "Ort"')} varchar(50), ${quote('名前')} text, ${quote('select')} int);
       CREATE TABLE ${quote('Ümlaut täble')} (${quote('id`')} int PRIMARY KEY, v varchar(20));
       INSERT INTO ${quote(t)} VALUES (1, 'Köln 🚀', 'たなか', 1), (2, NULL, '🚀🚀', 2);
       INSERT INTO ${quote('Ümlaut täble')} VALUES (1, 'a');`,
    );
    const src = run.source.url;
    // MariaDB keeps identifiers in utf8mb3: a character beyond the BMP (🚀) is refused in a name,
    // so it goes through the data only
    await expect(mysqlExec(src, `CREATE TABLE ${quote('🚀')} (a int)`)).rejects.toThrow(
      /^Invalid utf8mb4 character string/,
    );
    await mysqlExec(
      src,
      `INSERT INTO ${quote(t)} VALUES (3, 'Zürich', '😀 smile', 3);
       UPDATE ${quote(t)} SET ${quote('Straße / "Ort"')} = 'München 🚀' WHERE ${quote(k)} = 1;
       DELETE FROM ${quote(t)} WHERE ${quote(k)} = 2`,
    );
    await mysqlExec(src, `ALTER TABLE ${quote(t)} ADD COLUMN ${quote('neue `Spalte` ö')} varchar(20) DEFAULT 'ö'`);
    await mysqlExec(
      src,
      `INSERT INTO ${quote(t)} VALUES (4, 'Wien', 'x', 4, '🚀 rocket');
       UPDATE ${quote(t)} SET ${quote('neue `Spalte` ö')} = 'ä' WHERE ${quote(k)} = 1`,
    );
    await mysqlExec(src, `CREATE TABLE ${quote('nëw `table` 2')} (${quote('schlüssel')} varchar(20) PRIMARY KEY)`);
    await mysqlExec(src, `INSERT INTO ${quote('nëw `table` 2')} VALUES ('ß'), ('🚀')`);
    await mysqlExec(src, `RENAME TABLE ${quote('Ümlaut täble')} TO ${quote('Ümlaut `renamed`')}`);
    await mysqlExec(src, `INSERT INTO ${quote('Ümlaut `renamed`')} VALUES (2, 'b'); DELETE FROM ${quote('Ümlaut `renamed`')} WHERE ${quote('id`')} = 1`);
    // a statement that names the source database: it must land in the target
    await mysqlExec(
      src,
      `ALTER TABLE ${quote(run.source.name)}.${quote(t)} MODIFY COLUMN ${quote('select')} bigint`,
    );
    await mysqlExec(src, `UPDATE ${quote(t)} SET ${quote('select')} = 1 << 40 WHERE ${quote(k)} = 3`);
    const { target } = await restoreNow(run);
    await expectSame(src, target.url);
  });

  it('a rolled-back transaction leaves nothing; a transaction across several InnoDB tables (and a savepoint rolled back) lands whole', async () => {
    const run = await streamed(
      'rollback',
      `CREATE TABLE a (id int PRIMARY KEY, v varchar(10));
       CREATE TABLE b (id int PRIMARY KEY, v varchar(10));
       CREATE TABLE c (k varchar(10), n int);
       INSERT INTO a VALUES (1, 'a1'), (2, 'a2'); INSERT INTO b VALUES (1, 'b1'); INSERT INTO c VALUES ('x', 1), ('x', 1);`,
    );
    const src = run.source.url;
    const before = await storedLog(run.name);
    await mysqlExec(
      src,
      `START TRANSACTION; INSERT INTO a VALUES (3, 'gone'); UPDATE b SET v = 'gone'; DELETE FROM c; ROLLBACK`,
    );
    await mysqlExec(
      src,
      `START TRANSACTION;
         INSERT INTO a VALUES (10, 'kept'); UPDATE b SET v = 'kept' WHERE id = 1; DELETE FROM c LIMIT 1;
         SAVEPOINT s1;
         INSERT INTO a VALUES (11, 'undone'); DELETE FROM b; UPDATE c SET n = 99;
         ROLLBACK TO SAVEPOINT s1;
         INSERT INTO b VALUES (2, 'b2'); UPDATE a SET v = 'a1!' WHERE id = 1;
       COMMIT`,
    );
    const { target } = await restoreNow(run);
    await expectSame(src, target.url);
    const text = (await storedLog(run.name))
      .slice(before.length)
      .map((t) => Buffer.from(t.payload).toString('utf8'))
      .join('\n');
    expect(text).not.toMatch(/gone|undone|"i99"/);
    expect(await mysqlExec(target.url, 'SELECT id, v FROM a ORDER BY id')).toEqual([
      { id: 1, v: 'a1!' },
      { id: 2, v: 'a2' },
      { id: 10, v: 'kept' },
    ]);
  });

  it('FLUSH BINARY LOGS twice mid-stream, with changes between and a transaction right before each rotation', async () => {
    const run = await streamed(
      'rotate',
      `CREATE TABLE t (id int PRIMARY KEY, v varchar(20)); INSERT INTO t SELECT seq, 'start' FROM seq_1_to_10;`,
    );
    const src = run.source.url;
    await mysqlExec(src, `INSERT INTO t SELECT seq, 'first file' FROM seq_11_to_5000`);
    await mysqlExec(src, `FLUSH BINARY LOGS`);
    await mysqlExec(src, `UPDATE t SET v = 'second file' WHERE id % 2 = 0`);
    await mysqlExec(src, `DELETE FROM t WHERE id % 7 = 0; FLUSH BINARY LOGS`);
    await mysqlExec(src, `INSERT INTO t VALUES (-1, 'third file'); UPDATE t SET v = 'third' WHERE id < 5`);
    const { target } = await restoreNow(run);
    await expectSame(src, target.url);
    const files = new Set(
      (await storedLog(run.name)).filter((t) => t.changes > 0).map((t) => parsePosition(t.position).file),
    );
    expect(files.size).toBe(3);
  });

  it('a table without a primary key: updates and deletes of exact duplicate rows, NULLs, floats and text', async () => {
    const run = await streamed(
      'nokey',
      `CREATE TABLE entries (k varchar(10), n int, f float, d double, body text, at datetime(3));
       INSERT INTO entries VALUES ('dup', 1, 0.1, 0.1, 'same', '2026-01-01 00:00:00.123'),
         ('dup', 1, 0.1, 0.1, 'same', '2026-01-01 00:00:00.123'), ('dup', 1, 0.1, 0.1, 'same', '2026-01-01 00:00:00.123'),
         ('null', NULL, NULL, NULL, NULL, NULL), ('null', NULL, NULL, NULL, NULL, NULL), ('other', 2, -0.5, 1e300, REPEAT('y', 5000), NULL);
       CREATE TABLE uniq (a int NOT NULL, b int, UNIQUE KEY (a));
       INSERT INTO uniq VALUES (1, 1), (2, 2);`,
    );
    const src = run.source.url;
    await mysqlExec(
      src,
      `INSERT INTO entries VALUES ('dup', 1, 0.1, 0.1, 'same', '2026-01-01 00:00:00.123'), ('new', 3, 3.4e38, -5e-324, 'x', '2026-02-02');
       UPDATE entries SET n = 5 WHERE k = 'dup' LIMIT 1;
       DELETE FROM entries WHERE k = 'dup' AND n = 1 LIMIT 1;
       UPDATE entries SET body = 'was null' WHERE k = 'null' LIMIT 1;
       DELETE FROM entries WHERE k = 'null' AND body IS NULL;
       UPDATE entries SET f = f * 3, d = d / 3 WHERE k = 'other';
       UPDATE entries SET k = 'dup', n = 1, f = 0.1, d = 0.1, body = 'same', at = '2026-01-01 00:00:00.123' WHERE k = 'new'`,
    );
    await mysqlExec(src, `DELETE FROM entries WHERE k = 'dup' LIMIT 2`);
    await mysqlExec(src, `UPDATE uniq SET b = 20 WHERE a = 2; DELETE FROM uniq WHERE a = 1; INSERT INTO uniq VALUES (3, NULL)`);
    const { target } = await restoreNow(run);
    await expectSame(src, target.url);
  });

  it('every column type, inserted and updated after the snapshot, restored --at with identical values', async () => {
    // [table, DDL, columns, rows]: each row inserted after the snapshot, then updated to the next
    // row's values (the last to the first's), and the snapshot's own row updated to the first's
    const tables: Array<[string, string, string[], string[][]]> = [
      [
        'ints',
        'ti tinyint, tiu tinyint unsigned, si smallint, siu smallint unsigned, mi mediumint, miu mediumint unsigned, i int, iu int unsigned, bi bigint, biu bigint unsigned, z int(5) unsigned zerofill',
        ['ti', 'tiu', 'si', 'siu', 'mi', 'miu', 'i', 'iu', 'bi', 'biu', 'z'],
        [
          ['-128', '255', '-32768', '65535', '-8388608', '16777215', '-2147483648', '4294967295', '-9223372036854775808', '18446744073709551615', '42'],
          ['127', '0', '32767', '0', '8388607', '0', '2147483647', '0', '9223372036854775807', '0', '0'],
          ['NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'],
          ['0', '128', '-1', '32768', '-1', '8388608', '-1', '2147483648', '-1', '9223372036854775808', '99999'],
        ],
      ],
      [
        'nums',
        'd65 decimal(65,30), du decimal(10,0) unsigned, d2 decimal(5,2), f float, fu float unsigned, d double, b1 bit(1), b64 bit(64), b10 bit(10)',
        ['d65', 'du', 'd2', 'f', 'fu', 'd', 'b1', 'b64', 'b10'],
        [
          ["'-99999999999999999999999999999999999.999999999999999999999999999999'", '9999999999', '-0.01', '16777217', '0.1', '0.1e0 + 0.2e0', "b'1'", "b'1111111111111111111111111111111111111111111111111111111111111111'", "b'1010101010'"],
          ["'0.000000000000000000000000000001'", '0', '999.99', '3.40282e38', '1.17549435e-38', '1.7976931348623157e308', "b'0'", '0', '0'],
          ['0', '1', '0', '-0e0', '0', '-0e0', 'NULL', '1', "b'1000000000'"],
          ['NULL', 'NULL', 'NULL', '-3.4028234e38', 'NULL', '-1e-300', 'NULL', 'NULL', 'NULL'],
          ['1', '1', '1', '0.3333333333', '1', '1e0/3e0', '1', '9223372036854775808', '1'],
        ],
      ],
      [
        'times',
        'y year, dt date, dtm datetime, dtm6 datetime(6), ts timestamp(3) NULL DEFAULT NULL, ts0 timestamp NULL DEFAULT NULL, t time, t6 time(6), e enum(\'a\',\'b\',\'c d\'), s set(\'x\',\'y\',\'z\')',
        ['y', 'dt', 'dtm', 'dtm6', 'ts', 'ts0', 't', 't6', 'e', 's'],
        [
          ['0', "'0000-00-00'", "'0000-00-00 00:00:00'", "'0000-00-00 00:00:00.000000'", "'1970-01-01 00:00:01.000'", "'0000-00-00 00:00:00'", "'-838:59:59'", "'-838:59:59.000000'", "'a'", "''"],
          ['1901', "'2024-02-29'", "'9999-12-31 23:59:59'", "'2026-12-05 14:02:59.123456'", "'2038-01-19 03:14:07.999'", "'2038-01-19 03:14:07'", "'838:59:59'", "'123:45:06.500001'", "'c d'", "'x,z'"],
          ['2155', "'1000-01-01'", "'1000-01-01 00:00:00'", "'1000-01-01 00:00:00.000001'", 'NULL', "'1970-01-01 00:00:01'", "'-00:00:01'", "'00:00:00.000000'", 'NULL', "'x,y,z'"],
          ['NULL', "'2024-00-00'", "'2024-01-00 10:00:00'", 'NULL', "'0000-00-00 00:00:00.000'", 'NULL', 'NULL', "'-00:00:00.000001'", "'b'", 'NULL'],
        ],
      ],
      [
        'texts',
        "l varchar(50) CHARACTER SET latin1, u varchar(50) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, cyr text CHARACTER SET cp1251, c char(10) CHARACTER SET utf8mb4, bn binary(6), vb varbinary(50), bl longblob, tx longtext, tt tinytext, mt mediumtext, j json",
        ['l', 'u', 'cyr', 'c', 'bn', 'vb', 'bl', 'tx', 'tt', 'mt', 'j'],
        [
          ["CONVERT(x'636166e9' USING latin1)", "'tab\\there\\nnewline\\rcr \\\\ back \\\\N'", "'Привет'", "'a'", "'ab'", "x'00015c090a0d4e'", "x'00ff5c4e0a'", "'\\\\N'", "'t'", "'m'", `'{"a": [1, 2.50, "x\\\\ty"], "b": null, "c": "\\\\u00e9"}'`],
          ["''", "'😀 emoji 𝄞'", "''", "''", "x'000000000000'", "x''", "x''", "''", "''", "''", "'[]'"],
          ['NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL', 'NULL'],
          ["'\\\\N'", "'N'", "'N'", "'\\\\'", "x'5c4e'", "x'5c'", "REPEAT(x'00ff7f80', 100000)", "REPEAT('long line 🚀 ', 50000)", "REPEAT('é', 127)", "REPEAT('m', 70000)", `'"\\\\\\\\N"'`],
        ],
      ],
      [
        'shapes',
        'g geometry, p point, poly polygon NULL, ls linestring NULL',
        ['g', 'p', 'poly', 'ls'],
        [
          ["ST_GeomFromText('POINT(1.5 -2.25)')", "ST_GeomFromText('POINT(0 0)')", "ST_GeomFromText('POLYGON((0 0,10 0,10 10,0 10,0 0))')", 'NULL'],
          ["ST_GeomFromText('LINESTRING(0 0,1 1,2 1)', 4326)", "ST_GeomFromText('POINT(1e300 -1e-300)')", 'NULL', "ST_GeomFromText('LINESTRING(0 0,1 1)')"],
          ['NULL', "ST_GeomFromText('POINT(-0 3)')", 'NULL', 'NULL'],
        ],
      ],
      [
        'computed',
        "a int, b varchar(20), v int AS (a * 2) VIRTUAL, s varchar(30) AS (CONCAT(b, '!')) STORED, h int INVISIBLE DEFAULT 7, KEY (s)",
        ['a', 'b', 'h'],
        [
          ['21', "'x'", '1'],
          ['NULL', 'NULL', 'NULL'],
          ['0', "''", '3'],
        ],
      ],
    ];
    const ddl = tables.map(([t, cols]) => `CREATE TABLE ${t} (id int PRIMARY KEY, ${cols});`).join('\n');
    const row = (cols: string[], values: string[]): string => cols.map((c, i) => `${c} = ${values[i]}`).join(', ');
    // the snapshot holds one row of each table (id 0), with the values of the last row
    const seeded = tables
      .map(([t, , cols, rows]) => `INSERT INTO ${t} SET id = 0, ${row(cols, rows.at(-1)!)};`)
      .join('\n');
    // a table without a key holds every hard type too: its updates and deletes find rows by them
    const NOKEY =
      "CREATE TABLE nokey (f float, d double, b bit(10), j json, g geometry, e enum('a','b'), s set('x','y'), t time(6), dt datetime(6), de decimal(65,30), bl blob, l varchar(10) CHARACTER SET latin1, y year);";
    const nokeyRow = (n: number): string =>
      `(${n}.1, ${n}e-300, b'${(n % 2 ? '1010101010' : '0')}', '{"n": ${n}}', ST_GeomFromText('POINT(${n} ${-n})'), 'b', 'x,y', '-${n}:00:00.000001', '2026-01-0${n} 00:00:00.5', '-${n}.000000000000000000000000000001', x'00ff${n}${n}', CONVERT(x'e9${n}${n}' USING latin1), ${1900 + n})`;
    const run = await streamed(
      'types',
      `SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'; ${ddl} ${seeded} ${NOKEY}
       INSERT INTO nokey VALUES ${nokeyRow(1)}, ${nokeyRow(1)}, ${nokeyRow(2)};`,
    );
    const src = run.source.url;
    const changes = tables.flatMap(([t, , cols, rows]) => [
      ...rows.map((r, i) => `INSERT INTO ${t} SET id = ${i + 1}, ${row(cols, r)};`),
      ...rows.map((_, i) => `UPDATE ${t} SET ${row(cols, rows[(i + 1) % rows.length]!)} WHERE id = ${i + 1};`),
      `UPDATE ${t} SET ${row(cols, rows[0]!)} WHERE id = 0;`,
    ]);
    await mysqlExec(src, `SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'; ${changes.join('\n')}`);
    // a second round in one transaction, so every type also goes through a multi-row batch
    await mysqlExec(
      src,
      `SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'; START TRANSACTION;
       ${tables.map(([t, , cols, rows]) => rows.map((r, i) => `INSERT INTO ${t} SET id = ${100 + i}, ${row(cols, r)};`).join('\n')).join('\n')}
       ${tables.map(([t]) => `DELETE FROM ${t} WHERE id = 1;`).join('\n')}
       COMMIT`,
    );
    await mysqlExec(
      src,
      `INSERT INTO nokey VALUES ${nokeyRow(3)}, ${nokeyRow(1)};
       UPDATE nokey SET y = 2000 WHERE y = 1901 LIMIT 1;
       DELETE FROM nokey WHERE y = 1901 LIMIT 1;
       UPDATE nokey SET f = f * 2, d = -d, b = b'1', j = JSON_OBJECT('k', 'ü'), g = ST_GeomFromText('POINT(7 7)'),
                        e = 'a', s = '', t = '838:59:59', dt = '0000-00-00 00:00:00', de = 0, bl = NULL, l = 'ß' WHERE y = 1902;
       DELETE FROM nokey WHERE y = 1903`,
    );
    const { target } = await restoreNow(run);
    await expectSame(src, target.url);
    // spot checks a checksum would not explain
    const spot =
      'SELECT (SELECT biu FROM ints WHERE id = 4) AS biu, (SELECT HEX(l) FROM texts WHERE id = 4) AS l, (SELECT f * 1e0 FROM nums WHERE id = 5) AS f, (SELECT CAST(t6 AS CHAR) FROM times WHERE id = 3) AS t6';
    expect(await mysqlExec(target.url, spot)).toEqual(await mysqlExec(src, spot));
    expect(await mysqlExec(target.url, 'SELECT id, h, v, s FROM computed ORDER BY id')).toEqual(
      await mysqlExec(src, 'SELECT id, h, v, s FROM computed ORDER BY id'),
    );
  });
});

describe('MySQL/MariaDB change log: a 1-million-row transaction', () => {
  it('streams and restores it with bounded memory, exactly', async () => {
    const run = await streamed(
      'big',
      `CREATE TABLE big (id int PRIMARY KEY, a char(32), b decimal(20,6), c datetime(6), d varchar(100))`,
    );
    const src = run.source.url;
    const mib = (n: number): string => `${(n / 1048576).toFixed(0)} MiB`;
    let peakRss = 0;
    let peakHeap = 0;
    const sample = (): void => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    };
    global.gc?.();
    const baseRss = process.memoryUsage().rss;
    let sampler = setInterval(sample, 50);
    const t0 = Date.now();
    await mysqlExec(
      src,
      `INSERT INTO big SELECT seq, MD5(seq), seq / 7, '2026-01-01' + INTERVAL seq SECOND, REPEAT('v', seq % 100) FROM seq_1_to_1000000`,
    );
    const inserted = Date.now();
    const at = await serverNowMicros(src);
    try {
      await run.stream.waitCovered(at, 300_000);
    } finally {
      await run.stream.stop();
      clearInterval(sampler);
    }
    const streamMs = Date.now() - inserted;
    const stream = { rss: peakRss - baseRss, heap: peakHeap };
    const segments = await tr.repo.listSegments(run.name);
    // stored as one transaction in parts of at most 10,000 rows, all at its commit's position, the
    // last without `more` (here an empty one: the rows end exactly at a part's limit)
    const stored: Array<[string, number, boolean]> = [];
    let payloadBytes = 0;
    let largest = 0;
    for (const seg of segments)
      for await (const tx of decodeSegment(tr.repo.readStream(seg.data), seg.id)) {
        stored.push([tx.position, tx.changes, tx.more === true]);
        payloadBytes += tx.payload.length;
        largest = Math.max(largest, tx.payload.length);
      }
    expect(largest).toBeLessThanOrEqual(8 * 1024 * 1024 + 64 * 1024);
    const position = stored.find((p) => p[1] > 0)?.[0];
    const parts = stored.filter((p) => p[0] === position);
    expect(parts.map((p) => p[1]).reduce((a, b) => a + b, 0)).toBe(1_000_000);
    expect(stored.filter((p) => p[1] > 0 && p[0] !== position)).toEqual([]);
    expect(Math.max(...parts.map((p) => p[1]))).toBeLessThanOrEqual(10_000);
    expect(parts.map((p) => p[2])).toEqual([...Array<boolean>(parts.length - 1).fill(true), false]);
    [peakRss, peakHeap] = [0, 0];
    global.gc?.();
    const restoreBase = process.memoryUsage().rss;
    sampler = setInterval(sample, 50);
    const target = await database('big_dst');
    let summary: RestoreSummary;
    try {
      summary = await restoreInto(tr.repo, driver, run.name, { kind: 'time', micros: at }, target.url);
    } finally {
      clearInterval(sampler);
    }
    const restore = { rss: peakRss - restoreBase, heap: peakHeap };
    console.log(
      `1M-row transaction: inserted in ${inserted - t0} ms, stored ${streamMs} ms later in ${parts.length} parts (${mib(payloadBytes)} of payload, largest part ${mib(largest)}), ${segments.length} segments; ` +
        `restored in ${summary.seconds.toFixed(1)} s (replay ${summary.replaySeconds.toFixed(1)} s, ${Math.round(summary.changes / summary.replaySeconds)} rows/s); ` +
        `stream: peak heap ${mib(stream.heap)}, RSS +${mib(stream.rss)}; restore: peak heap ${mib(restore.heap)}, RSS +${mib(restore.rss)}`,
    );
    expect(summary.changes).toBe(1_000_000);
    // the payload is ~150 MiB (and far more as decoded rows): the process must stay below holding it
    expect(payloadBytes).toBeGreaterThan(100 * 1024 * 1024);
    for (const m of [stream, restore]) {
      expect(m.rss).toBeLessThan(300 * 1024 * 1024);
      expect(m.heap).toBeLessThan(256 * 1024 * 1024);
    }
    expect(await mysqlTableChecksums(target.url)).toEqual(await mysqlTableChecksums(src));
  }, 600_000);
});
