/**
 * MySQL/MariaDB snapshot -> restore --snapshot through the core (snapshot job, repository,
 * restore entry point): tables equal to the source by ordered checksums with --jobs 2 and a
 * table read in key ranges, a non-empty target refused, an interrupted snapshot that commits
 * nothing and holds nothing on the server, and one consistent view shared by both workers while
 * a writer commits, matching the recorded position exactly.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/mysql/index.js';
import { parsePosition } from '../../drivers/mysql/internal/position.js';
import { splitting } from '../../drivers/mysql/snapshot.js';
import { rowHasher } from '../../src/backup/row-checksum.js';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import { AbortError, SourceError } from '../../src/util/errors.js';
import { memoryLogger } from '../../src/util/log.js';
import { createMysqlDatabase, type TestDatabase } from '../harness/index.js';
import { runCli } from '../helpers/cli.js';
import { mysqlChecksums, mysqlExec } from '../helpers/mysql.js';
import { restoreInto, tempRepo, type TempRepo } from '../helpers/pitr.js';

const SEED = `
  CREATE TABLE contacts (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL, email varchar(200),
    created datetime(3) NOT NULL, KEY (email));
  INSERT INTO contacts (name, email, created)
    SELECT CONCAT('name ', seq), CONCAT('c', seq, '@example.com'), '2024-01-01' + INTERVAL seq MINUTE FROM seq_1_to_30000;
  CREATE TABLE notes (contact_id int, body text, total int AS (LENGTH(body) * 2) STORED);
  INSERT INTO notes (contact_id, body) SELECT seq % 100, REPEAT('tab\\there\\nnewline \\\\ ', seq % 5) FROM seq_1_to_2000;
  CREATE TABLE deals (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, contact_id int, amount decimal(12,2),
    FOREIGN KEY (contact_id) REFERENCES contacts (id));
  INSERT INTO deals (contact_id, amount) SELECT seq, seq * 1.5 FROM seq_1_to_500;
  ANALYZE TABLE contacts, notes, deals;
`;

describe('mysql snapshot and restore --snapshot', () => {
  let src: TestDatabase;
  let tr: TempRepo;
  const dbs: TestDatabase[] = [];
  const dst = async (): Promise<TestDatabase> => {
    const d = await createMysqlDatabase('snap_dst');
    dbs.push(d);
    return d;
  };
  const savedSplit = splitting.minRows;

  beforeAll(async () => {
    src = await createMysqlDatabase('snap_src');
    await mysqlExec(src.url, SEED);
    tr = await tempRepo();
    splitting.minRows = 10_000;
  });
  afterAll(async () => {
    splitting.minRows = savedSplit;
    await tr?.dispose();
    await Promise.all([src, ...dbs].map((d) => d?.drop()));
  });

  const snapshot = (
    name: string,
    opts: { signal?: AbortSignal; log?: ReturnType<typeof memoryLogger> } = {},
  ) =>
    runSnapshot({
      repo: tr.repo,
      driver,
      sourceUrl: src.url,
      name,
      tags: [],
      jobs: 2,
      log: opts.log ?? memoryLogger(),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });

  it('restores every table equal to the source, the large one in key ranges, with --jobs 2', async () => {
    const log = memoryLogger();
    const logged = new Map<string, unknown>();
    const info = log.info;
    log.info = (event, message, fields) => {
      logged.set(event, fields);
      info(event, message, fields);
    };
    const snap = await snapshot('crm', { log });
    // the log says how long commits were blocked for the workers to share one view
    expect(logged.get('snapshot.position')).toMatchObject({
      lock: 'BACKUP STAGE BLOCK_COMMIT',
      lockMs: expect.any(Number),
    });
    const parsed = parsePosition(snap.position);
    expect(parsed.file).toMatch(/^binlog\.\d+$/);
    expect(parsed.gtids).toMatch(/^\d+-\d+-\d+/);
    const [manifest] = await tr.repo.listSnapshots({ source: 'crm' });
    const names = (manifest?.streams ?? []).map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining([`${src.name}.contacts#1`, `${src.name}.contacts#2`, `${src.name}.notes`]),
    );
    expect(manifest?.meta).toMatchObject({
      flavour: 'mariadb',
      database: src.name,
      timeZone: '+00:00',
      lock: 'BACKUP STAGE BLOCK_COMMIT',
    });
    expect(typeof manifest?.meta?.lockMs).toBe('number');
    const to = await dst();
    await restoreInto(tr.repo, driver, 'crm', { kind: 'snapshot', id: snap.id }, to.url, { jobs: 2 });
    expect(await mysqlChecksums(to.url)).toEqual(await mysqlChecksums(src.url));
    // the counters are where the source's were
    const counters =
      'SELECT TABLE_NAME AS t, AUTO_INCREMENT AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1';
    expect(await mysqlExec(to.url, counters)).toEqual(await mysqlExec(src.url, counters));
  });

  it('refuses a non-empty target, and --clean drops only what the restore recreates', async () => {
    const snap = await snapshot('crm_clean');
    const to = await dst();
    await mysqlExec(to.url, 'CREATE TABLE leftover (x int); CREATE TABLE contacts (x int)');
    const target = await driver.openTarget(to.url);
    try {
      await expect(target.assertEmpty()).rejects.toThrow(/is not empty: it holds 2 object\(s\), .*--clean/);
      const [manifest] = await tr.repo.listSnapshots({ source: 'crm_clean' });
      const parts: Uint8Array[] = [];
      for await (const c of tr.repo.readStream(manifest!.schema)) parts.push(c);
      const schema = Buffer.concat(parts);
      await expect(
        target.assertEmpty({ clean: true, schema, schemaFormat: manifest!.schemaFormat }),
      ).rejects.toThrow(/holds 1 object\(s\) the snapshot does not create \(table leftover\)/);
      await mysqlExec(to.url, 'DROP TABLE leftover');
      expect(await target.assertEmpty({ clean: true, schema, schemaFormat: manifest!.schemaFormat })).toEqual(
        [{ kind: 'table', names: [`${to.name}.contacts`] }],
      );
    } finally {
      await target.close();
    }
    await restoreInto(tr.repo, driver, 'crm_clean', { kind: 'snapshot', id: snap.id }, to.url);
    expect(await mysqlChecksums(to.url)).toEqual(await mysqlChecksums(src.url));
  });

  it('an interrupted snapshot commits nothing and leaves no session on the server', async () => {
    const controller = new AbortController();
    const log = memoryLogger();
    const progress = log.progress;
    log.progress = (e, m, f) => {
      controller.abort();
      progress(e, m, f);
    };
    const err = await snapshot('crm_abort', { signal: controller.signal, log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(await tr.repo.listSnapshots({ source: 'crm_abort' })).toEqual([]);
    const other = await dst();
    const sessions = async (): Promise<unknown> =>
      Number(
        (
          (
            await mysqlExec(
              other.url,
              'SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE DB = ?',
              [src.name],
            )
          )[0] as { n: string }
        ).n,
      );
    await expect.poll(sessions, { timeout: 30_000, interval: 100 }).toBe(0);
  });

  it("both workers share one view: a concurrent writer's transactions are all in or all out, as the position says", async () => {
    const db = await dst();
    await mysqlExec(
      db.url,
      `CREATE TABLE a (batch int PRIMARY KEY, pad varchar(200));
       CREATE TABLE b (batch int PRIMARY KEY, pad varchar(200));
       INSERT INTO a SELECT seq, REPEAT('a', 200) FROM seq_1_to_20000;
       INSERT INTO b SELECT seq, REPEAT('b', 200) FROM seq_1_to_20000;
       ANALYZE TABLE a, b;`,
    );
    const writer = await mysql.createConnection({ uri: db.url });
    const committed = new Map<number, number>(); // batch -> GTID sequence number of its commit
    let stop = false;
    let batch = 100_000;
    const writing = (async () => {
      while (!stop) {
        batch++;
        await writer.query('START TRANSACTION');
        await writer.query('INSERT INTO a VALUES (?, ?)', [batch, 'w']);
        await writer.query('INSERT INTO b VALUES (?, ?)', [batch, 'w']);
        await writer.query('COMMIT');
        const [[row]] = (await writer.query('SELECT @@last_gtid AS g')) as unknown as [[{ g: string }]];
        committed.set(batch, Number(row.g.split('-')[2]));
      }
    })();
    try {
      await expect.poll(() => committed.size, { timeout: 30_000 }).toBeGreaterThan(20);
      // whole tables, so that a and b are read by different workers at the same time
      splitting.minRows = Number.MAX_SAFE_INTEGER;
      const snap = await runSnapshot({
        repo: tr.repo,
        driver,
        sourceUrl: db.url,
        name: 'crm_writer',
        tags: [],
        jobs: 2,
        log: memoryLogger(),
      });
      const seen = committed.size;
      await expect.poll(() => committed.size, { timeout: 30_000 }).toBeGreaterThan(seen + 5);
      stop = true;
      await writing;
      const to = await dst();
      await restoreInto(tr.repo, driver, 'crm_writer', { kind: 'snapshot', id: snap.id }, to.url, {
        jobs: 2,
      });
      const batches = async (t: string): Promise<number[]> =>
        (
          (await mysqlExec(to.url, `SELECT batch FROM ${t} WHERE batch > 100000 ORDER BY batch`)) as Array<{
            batch: number;
          }>
        ).map((r) => r.batch);
      const inA = await batches('a');
      expect(await batches('b')).toEqual(inA);
      // exactly the writer's transactions at or before the recorded GTID position
      const gtids = parsePosition(snap.position).gtids ?? '';
      const seq = Number(/(?:^|,)0-\d+-(\d+)/.exec(gtids)?.[1]);
      const expected = [...committed].filter(([, g]) => g <= seq).map(([b]) => b);
      expect(inA).toEqual(expected);
      expect(inA.length).toBeGreaterThan(0);
      expect(inA.length).toBeLessThan(committed.size);
    } finally {
      splitting.minRows = 10_000;
      stop = true;
      await writing.catch(() => {});
      await writer.end();
    }
  });

  it('stores rows of 16 MiB and more (several packets each) whole, and checksums what it stored', async () => {
    const big = await createMysqlDatabase('snap_big');
    dbs.push(big);
    // 2^24 - 1 payload bytes exactly (a packet of the maximum length, then an empty one), and 17 MiB
    await mysqlExec(
      big.url,
      `CREATE TABLE blobs (id int PRIMARY KEY, b longblob, t text);
       INSERT INTO blobs VALUES (1, 'a', NULL), (2, REPEAT('x', 16777215 - 2 - 4 - 1), NULL),
         (3, REPEAT('y', 17825792), 'after'), (4, NULL, 'last');`,
    );
    const snap = await runSnapshot({
      repo: tr.repo,
      driver,
      sourceUrl: big.url,
      name: 'big',
      tags: [],
      jobs: 2,
      log: memoryLogger(),
    });
    const [manifest] = await tr.repo.listSnapshots({ source: 'big' });
    const stream = manifest!.streams.find((s) => s.table === `${big.name}.blobs`)!;
    // the checksum the driver took off the socket is the one the core finds in the stored bytes
    const hasher = rowHasher(driver.rowFraming!(stream.format)!);
    for await (const piece of tr.repo.readStream(stream.data)) hasher.push(piece);
    expect(stream.checksum).toEqual(hasher.end());
    expect(stream.checksum?.rows).toBe(4);
    const to = await dst();
    await restoreInto(tr.repo, driver, 'big', { kind: 'snapshot', id: snap.id }, to.url, { jobs: 2 });
    expect(await mysqlChecksums(to.url)).toEqual(await mysqlChecksums(big.url));
  });

  it('refuses a table name that selects nothing, in one sentence', async () => {
    const err = await runSnapshot({
      repo: tr.repo,
      driver,
      sourceUrl: src.url,
      name: 'crm_typo',
      tags: [],
      jobs: 1,
      tables: ['contcts'],
      log: memoryLogger(),
    }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/contcts/);
    expect(err).not.toBeInstanceOf(SourceError);
  });

  it('crm-backup snapshot and restore --snapshot on the command line, exit 0 and equal', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crmb-mysql-cli-'));
    const env = { CRM_BACKUP_REPO: join(dir, 'repo'), CRM_BACKUP_PASSWORD: 'pw' };
    try {
      expect((await runCli(['init'], { env })).code).toBe(0);
      const snap = await runCli(['snapshot', '--source', src.url, '--name', 'cli', '--jobs', '2'], { env });
      expect(snap.code, snap.stderr).toBe(0);
      const id = snap.stdout.trim();
      const to = await dst();
      const r = await runCli(['restore', '--target', to.url, '--snapshot', id, '--jobs', '2'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(await mysqlChecksums(to.url)).toEqual(await mysqlChecksums(src.url));
      // a second restore into the same database is refused, and names what is there
      const again = await runCli(['restore', '--target', to.url, '--snapshot', id], { env });
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/is not empty: it holds 3 object\(s\), for example table contacts/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
