/**
 * `drill` on a real MariaDB through the engine the CLI calls: a snapshot with a table read in key
 * ranges (its parts' checksums add up to the table's), values holding tabs, newlines and
 * backslashes (escaped in LOAD DATA text, so a newline byte always ends a row), restored into a
 * scratch database whose table names carry another database name, passes and is recorded; a
 * restored table changed before it is read back fails with the sentence, and the scratch
 * database is dropped either way.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitting } from '../../drivers/mysql/snapshot.js';
import { driver } from '../../drivers/mysql/index.js';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import { runDrill } from '../../src/drill/drill.js';
import { memoryLogger } from '../../src/util/log.js';
import { createMysqlDatabase, type TestDatabase } from '../harness/index.js';
import { mysqlExec } from '../helpers/mysql.js';
import { tempRepo, type TempRepo } from '../helpers/pitr.js';

const SEED = `
  CREATE TABLE contacts (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL, note text);
  INSERT INTO contacts (name, note)
    SELECT CONCAT('name ', seq), IF(seq % 9 = 0, CONCAT('tab\\there\\nnewline \\\\ ', seq), NULL) FROM seq_1_to_20000;
  CREATE TABLE deals (id bigint unsigned AUTO_INCREMENT PRIMARY KEY, contact_id int, amount decimal(12,2),
    FOREIGN KEY (contact_id) REFERENCES contacts (id));
  INSERT INTO deals (contact_id, amount) SELECT seq, seq * 1.5 FROM seq_1_to_500;
  ANALYZE TABLE contacts, deals;
`;

describe('crm-backup drill on MariaDB', () => {
  let src: TestDatabase;
  let tr: TempRepo;
  let snapshotId: string;
  const savedSplit = splitting.minRows;
  const server = (name: string): string => src.url.replace(/\/[^/?]+(\?|$)/, `/${name}$1`);
  const exists = async (name: string): Promise<boolean> =>
    ((await mysqlExec(src.url, 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name])) as unknown[])
      .length === 1;

  beforeAll(async () => {
    src = await createMysqlDatabase('drill_src');
    await mysqlExec(src.url, SEED);
    tr = await tempRepo();
    splitting.minRows = 5_000;
    const r = await runSnapshot({
      repo: tr.repo,
      driver,
      sourceUrl: src.url,
      name: 'crm',
      tags: [],
      jobs: 2,
      log: memoryLogger(),
    });
    snapshotId = r.id;
  });
  afterAll(async () => {
    splitting.minRows = savedSplit;
    await tr?.dispose();
    await src?.drop();
  });

  it('passes: the parts of the split table add up, every table compared, recorded', async () => {
    const snap = (await tr.repo.listSnapshots()).find((s) => s.id === snapshotId)!;
    const parts = snap.streams.filter((s) => s.table === `${src.name}.contacts`);
    expect(parts.length).toBe(2);
    expect(parts.every((p) => p.checksum !== undefined)).toBe(true);
    expect(parts.reduce((n, p) => n + p.checksum!.rows, 0)).toBe(20_000);
    const out = await runDrill({
      repo: tr.repo,
      targetUrl: src.url,
      scratch: 'crmb_drill_m_pass',
      jobs: 2,
      log: memoryLogger(),
    });
    expect(out.record).toMatchObject({
      verdict: 'passed',
      snapshot: snapshotId,
      tables: 2,
      tablesCompared: 2,
      rows: 20_500,
      notCompared: [],
    });
    expect(await exists('crmb_drill_m_pass')).toBe(false);
    expect((await tr.repo.listDrills({ source: 'crm' })).at(-1)!.id).toBe(out.record.id);
  });

  it('fails with the sentence when a restored table differs from its checksum, and drops the scratch database', async () => {
    const out = await runDrill({
      repo: tr.repo,
      targetUrl: src.url,
      scratch: 'crmb_drill_m_fail',
      jobs: 2,
      log: memoryLogger(),
      afterRestore: async () => {
        await mysqlExec(server('crmb_drill_m_fail'), "UPDATE deals SET amount = amount + 0.01 WHERE id = 7");
      },
    });
    expect(out.record.verdict).toBe('failed');
    expect(out.record.failure).toMatch(
      new RegExp(
        `^Table ${src.name}\\.deals restored from snapshot ${snapshotId.slice(0, 12)} does not match the checksum the snapshot stored: expected 500 rows with checksum [0-9a-f]{32}, found 500 rows with checksum [0-9a-f]{32}\\.$`,
      ),
    );
    expect(await exists('crmb_drill_m_fail')).toBe(false);
  });
});
