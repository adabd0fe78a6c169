/**
 * What `npm run demo` prints (issue #10 item 13): the demo itself takes minutes on a real server,
 * so its printed pieces are tested here: shell lines a user can paste to repeat its commands,
 * table counts that agree from the seed to the verdict, and a verdict table whose columns line up.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeSeed, repeatLines, verdict } from '../../../scripts/crm/demo-report.js';
import { ROOT } from '../../helpers/cli.js';

const CRM_ROWS = {
  users: 13,
  accounts: 350,
  contacts: 1300,
  deals: 650,
  activities: 2600,
  notes: 850,
  email_events: 3500,
};
const KNEX = ['knex_migrations', 'knex_migrations_lock'];

describe('the demo verdict', () => {
  it('lines up its columns whatever the table names and counts, and counts every table it lists', () => {
    const sum = (rows: number, md5 = 'x') => ({ rows, md5 });
    const source = {
      accounts: sum(350),
      knex_migrations: sum(4),
      knex_migrations_lock: sum(1),
      email_events: sum(12345),
    };
    const restored = { ...source, email_events: sum(12345, 'other') };
    const v = verdict(source, restored);
    expect(v.lines).toEqual([
      '           table                 source rows  restored rows',
      'same       accounts                      350            350',
      'DIFFERENT  email_events                12345          12345',
      'same       knex_migrations                 4              4',
      'same       knex_migrations_lock            1              1',
    ]);
    expect(v.summary).toBe('1 of 4 tables differ: email_events.');
    expect(v.exact).toBe(false);
    const exact = verdict(source, source);
    expect(exact.summary).toBe('All 4 tables restored exactly (12700 rows).');
    expect(exact.exact).toBe(true);
  });

  it('names a table missing on either side as different', () => {
    const v = verdict({ a: { rows: 1, md5: 'x' } }, { b: { rows: 2, md5: 'y' } });
    expect(v.lines.slice(1)).toEqual([
      'DIFFERENT  a                1              -',
      'DIFFERENT  b                -              2',
    ]);
    expect(v.summary).toBe('2 of 2 tables differ: a, b.');
  });

  it('says what the seed counts, so its table count agrees with the verdict', () => {
    const all = [...Object.keys(CRM_ROWS), ...KNEX];
    const rows = { ...CRM_ROWS, knex_migrations: 4, knex_migrations_lock: 1 };
    expect(describeSeed(Object.keys(CRM_ROWS), rows)).toBe(
      "9263 rows in the 7 CRM tables; 9268 rows in all 9 tables, with knex's migration bookkeeping (knex_migrations, knex_migrations_lock)",
    );
    const sums = Object.fromEntries(all.map((t) => [t, { rows: 1, md5: 'x' }]));
    expect(verdict(sums, sums).summary).toMatch(/^All 9 tables /);
  });
});

describe('the lines that repeat the demo commands in another shell', () => {
  let dir: string;
  beforeAll(async () => {
    // a path with a space and a quote: the lines must quote it
    dir = await mkdtemp(join(tmpdir(), "crmb demo's "));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('give a working crm-backup on the same repository, without printing the password', async () => {
    const password = 'never-printed-twice';
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    const lines = repeatLines({
      repo: join(dir, 'repo'),
      passwordFile,
      tsx: resolve(ROOT, 'node_modules/.bin/tsx'),
      bin: resolve(ROOT, 'src/cli/bin.ts'),
    });
    for (const line of lines) expect(line).not.toContain(password);
    // pasted one per line into a shell started elsewhere, with nothing of ours in its environment
    const script = ['shopt -s expand_aliases', ...lines, 'crm-backup init', 'crm-backup list'].join('\n');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
    const r = await new Promise<{ code: number | null; out: string }>((done, fail) => {
      const child = spawn('bash', ['-c', script], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      child.on('error', fail);
      child.on('close', (code) => done({ code, out }));
    });
    expect(r.out).toBe(
      `Created repository at ${join(dir, 'repo')}. Keep the password safe: without it nothing can be restored.\nThe repository holds no backups yet.\n`,
    );
    expect(r.code).toBe(0);
  });
});
