/**
 * MySQL/MariaDB preflight through `crm-backup doctor` and the driver: a well-configured server
 * passes; each bad setting (changed with SET GLOBAL on a server of this test's own) is reported
 * once, with the sentence saying what was found and what is expected, and its fix; risky tables
 * and missing privileges are named; a restore target without local_infile is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/mysql/index.js';
import type { Finding } from '../../src/driver/finding.js';
import {
  createMysqlDatabase,
  mysqlStartOwnServer,
  type TestDatabase,
  type ThrowawayServer,
} from '../harness/index.js';
import { runCli } from '../helpers/cli.js';
import { mysqlExec } from '../helpers/mysql.js';

const count = (text: string, part: string): number => text.split(part).length - 1;

/**
 * doctor asks for the stream's checks only of a driver that can stream: until the change log is
 * built, the settings only the stream needs are warnings (WARN), then errors (FAIL).
 */
const streams = driver.capabilities.changeLog;
const mark = streams ? 'FAIL' : 'warn';

describe('mysql doctor on a good server', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createMysqlDatabase('doctor_ok');
    await mysqlExec(db.url, 'CREATE TABLE contacts (id int PRIMARY KEY, name text)');
  });
  afterAll(async () => {
    await db?.drop();
  });

  it('passes every check and exits 0', async () => {
    const r = await runCli(['doctor', '--source', db.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const findings = JSON.parse(r.stdout) as Finding[];
    const severity = (id: string): string | undefined => findings.find((f) => f.id === id)?.severity;
    for (const id of [
      'mysql.version',
      'mysql.log_bin',
      'mysql.binlog_format',
      'mysql.binlog_row_image',
      'mysql.binlog_row_metadata',
      'mysql.gtid',
      'mysql.server_id',
    ])
      expect(severity(id), id).toBe('ok');
    expect(findings.filter((f) => f.severity === 'error' || f.severity === 'warning')).toEqual([]);
  });
});

describe('mysql doctor on a misconfigured server', () => {
  let server: ThrowawayServer;
  let url: string;
  beforeAll(async () => {
    server = await mysqlStartOwnServer();
    const db = await createMysqlDatabase('doctor_bad', server.url);
    url = db.url;
    await mysqlExec(
      url,
      `CREATE TABLE keyless (a int, b text);
       CREATE TABLE old_style (id int PRIMARY KEY) ENGINE = MyISAM;
       CREATE USER 'reader'@'127.0.0.1';
       GRANT SELECT ON \`${db.name}\`.* TO 'reader'@'127.0.0.1';
       SET GLOBAL binlog_format = 'STATEMENT', binlog_row_image = 'MINIMAL', binlog_row_metadata = 'MINIMAL',
                  binlog_expire_logs_seconds = 3600, local_infile = OFF;`,
    );
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('says what each bad setting is and what is expected, once, with its fix', async () => {
    const r = await runCli(['doctor', '--source', url]);
    expect(r.code, r.stderr).toBe(streams ? 1 : 0);
    expect(r.stdout).toContain(
      `${mark}  [mysql.binlog_format] ` +
        'binlog_format is STATEMENT; the change log needs ROW, because statement events cannot be replayed to exactly the rows the source changed.\n' +
        "      Fix: SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW in the server configuration.\n",
    );
    expect(r.stdout).toContain(
      '[mysql.binlog_row_image] binlog_row_image is MINIMAL; exact replay needs FULL: MINIMAL logs only the changed columns',
    );
    expect(r.stdout).toContain(
      '[mysql.binlog_row_metadata] binlog_row_metadata is MINIMAL; the change log needs FULL, because it reads column names and signedness',
    );
    expect(r.stdout).toContain('Binlogs are kept 1 h; a stream stopped longer than that loses its place');
    for (const id of ['mysql.binlog_format', 'mysql.binlog_row_image', 'mysql.binlog_row_metadata'])
      expect(count(r.stdout, `[${id}]`), id).toBe(1);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toEqual([...new Set(lines)]);
  });

  it('names tables without a primary key and tables that are not transactional', async () => {
    const r = await runCli(['doctor', '--source', url, '--json']);
    const findings = JSON.parse(r.stdout) as Finding[];
    const db = new URL(url).pathname.slice(1);
    expect(findings.find((f) => f.id === 'mysql.primary_key')).toMatchObject({
      subject: `${db}.keyless`,
      severity: streams ? 'warning' : 'info',
    });
    const engine = findings.find((f) => f.id === 'mysql.engine');
    expect(engine).toMatchObject({
      subject: `${db}.old_style`,
      severity: 'warning',
      fix: `ALTER TABLE ${db}.old_style ENGINE = InnoDB;`,
    });
    expect(engine?.message).toMatch(
      /uses MyISAM, which is not transactional: a snapshot reads it as it is at that moment/,
    );
  });

  it('names the privileges a user lacks for a stream, with the GRANT that fixes it', async () => {
    const u = new URL(url);
    u.username = 'reader';
    const source = await driver.openSource(u.toString(), { name: 'doctor' });
    const findings = [...(await source.preflight('snapshot')), ...(await source.preflight('stream'))];
    await source.close();
    const priv = (p: string): Finding | undefined =>
      findings.find((f) => f.id === 'mysql.privilege' && f.subject === p);
    expect(priv('REPLICATION SLAVE')).toMatchObject({
      severity: 'error',
      message: 'The user lacks REPLICATION SLAVE; the change log reads the binlog as a replica does.',
      fix: 'GRANT REPLICATION SLAVE ON *.* TO <user>;',
    });
    expect(priv('BINLOG MONITOR')?.severity).toBe('error');
    expect(priv('SELECT')?.severity).toBe('ok');
    expect(priv('RELOAD')).toMatchObject({
      severity: 'warning',
      fix: 'GRANT RELOAD ON *.* TO <user>; (or take snapshots with --jobs 1)',
    });
  });

  it('refuses a restore target without local_infile', async () => {
    const target = await driver.openTarget(url);
    try {
      const findings = (await target.preflight?.({ replay: false })) ?? [];
      expect(findings.find((f) => f.id === 'mysql.local_infile')).toEqual({
        id: 'mysql.local_infile',
        severity: 'error',
        message:
          'local_infile is "OFF"; the restore loads tables with LOAD DATA LOCAL INFILE, which needs it ON.',
        fix: 'SET GLOBAL local_infile = ON; (and local_infile = ON in the server configuration)',
      });
    } finally {
      await target.close();
    }
  });
});
