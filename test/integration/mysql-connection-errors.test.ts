/**
 * What a DBA reads when the MySQL/MariaDB server cannot be used: nothing listening, a wrong
 * password, a database that does not exist. One sentence naming the server (never the password),
 * exit 1, and nothing stored in the repository.
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../harness/util.js';
import { runCli } from '../helpers/cli.js';

const PASSWORD = 'repo password';
let dir: string;
let server: URL;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'crmb-mysql-errors-'));
  server = new URL(inject('mysqlUrl'));
  const init = await runCli(['init', '--repo', join(dir, 'repo')], { env: { CRM_BACKUP_PASSWORD: PASSWORD } });
  expect(init.code, init.stderr).toBe(0);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every file (not folder: a lock's empty folder may stay) under `root`, sorted. */
const filesUnder = (root: string): string[] =>
  readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(root, f)).isFile())
    .sort();

const urlWith = (edit: (u: URL) => void): string => {
  const u = new URL(server.toString());
  edit(u);
  return u.toString();
};

describe('MySQL/MariaDB connection failures', () => {
  it('a server that is not running: doctor and snapshot say connection refused, and the snapshot stores nothing', async () => {
    const port = await freePort();
    const url = urlWith((u) => {
      u.port = String(port);
      u.pathname = '/crm';
    });
    const doctor = await runCli(['doctor', '--source', url]);
    expect(doctor.code).toBe(1);
    expect(doctor.stderr).toContain(
      `Cannot connect to MySQL/MariaDB at mysql://root@${server.hostname}:${port}/crm: connection refused (is the server running and listening there?).`,
    );
    const repo = join(dir, 'repo');
    const before = filesUnder(repo);
    const snapshot = await runCli(['snapshot', '--repo', repo, '--source', url], {
      env: { CRM_BACKUP_PASSWORD: PASSWORD },
    });
    expect(snapshot.code).toBe(1);
    expect(snapshot.stderr).toContain('connection refused');
    // not a snapshot, not a lock, not a chunk: the repository holds exactly what init wrote
    expect(filesUnder(repo)).toEqual(before);
  });

  it('a wrong password: the credentials are named as rejected, the password is never shown', async () => {
    const url = urlWith((u) => {
      u.password = 'not-the-password-42';
      u.pathname = '/mysql';
    });
    const doctor = await runCli(['doctor', '--source', url]);
    expect(doctor.code).toBe(1);
    expect(doctor.stderr).toContain(`rejected the credentials of user "${decodeURIComponent(server.username)}"`);
    expect(doctor.stdout + doctor.stderr).not.toContain('not-the-password-42');
  });

  it('a database that does not exist is named', async () => {
    const url = urlWith((u) => (u.pathname = '/no_such_crm_db'));
    const doctor = await runCli(['doctor', '--source', url]);
    expect(doctor.code).toBe(1);
    expect(doctor.stderr).toContain('has no database "no_such_crm_db".');
  });
});
