import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const COMMANDS = [
  'init',
  'snapshot',
  'stream',
  'list',
  'log',
  'restore',
  'verify',
  'forget',
  'copy',
  'doctor',
  'migrate',
  'key',
  'key add',
  'key list',
  'key remove',
];

describe('crm-backup command line', () => {
  it('prints help for the program and for every command, each with an example', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const c of [
      'init',
      'snapshot',
      'stream',
      'list',
      'log',
      'restore',
      'verify',
      'forget',
      'copy',
      'doctor',
      'migrate',
      'key',
    ]) {
      expect(top.stdout).toContain(c);
    }
    const results = await Promise.all(COMMANDS.map((c) => runCli([...c.split(' '), '--help'])));
    results.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      expect(r.stdout, COMMANDS[i]).toMatch(/Usage: crm-backup /);
      if (!COMMANDS[i]!.startsWith('key ')) expect(r.stdout, COMMANDS[i]).toMatch(/Examples?:/);
    });
  });

  it("lists the global options on every command's help page", async () => {
    const results = await Promise.all(COMMANDS.map((c) => runCli([...c.split(' '), '--help'])));
    results.forEach((r, i) => {
      expect(r.code, COMMANDS[i]).toBe(0);
      const page = r.stdout.replace(/\s+/g, ' ');
      expect(page, COMMANDS[i]).toContain('Global Options:');
      for (const option of ['--repo <location>', '--password-file <file>', '--json', '--quiet'])
        expect(page, `${COMMANDS[i]} ${option}`).toContain(option);
    });
  });

  it('says where the password comes from when no --password-file is given', async () => {
    const page = (await runCli(['--help'])).stdout.replace(/\s+/g, ' ');
    expect(page).toContain(
      '--password-file <file> read the repository password from this file; without it, the password is taken from $CRM_BACKUP_PASSWORD',
    );
    expect(page).not.toContain('(default $CRM_BACKUP_PASSWORD)');
  });

  it('exits 2 with one sentence on an unknown option', async () => {
    const r = await runCli(['snapshot', '--source', 'postgres://x@h/db', '--bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`crm-backup: unknown option '--bogus'. See "crm-backup --help".`);
  });

  it('exits 2 with one sentence on an unknown URL scheme', async () => {
    const r = await runCli(['doctor', '--source', 'oracle://scott:tiger@db/orcl']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: Unknown database URL scheme "oracle:"; supported schemes are postgres:, postgresql:, mysql:, mariadb:, mongodb:, mongodb+srv:.',
    );
    expect(r.stderr).not.toContain('tiger');
  });

  it('exits 2 when a restore names no target time or snapshot', async () => {
    const r = await runCli(['restore', '--repo', '/nonexistent', '--target', 'postgres://x@h/db'], {
      env: { CRM_BACKUP_PASSWORD: 'x' },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: restore needs exactly one of --at TIME, --before REF, --through REF, --snapshot ID, --tag T or --latest.',
    );
  });

  it('exits 2 when no password is given, and never takes one from a flag', async () => {
    const r = await runCli(['init', '--repo', '/tmp/crmb-never-created'], {
      env: { CRM_BACKUP_PASSWORD: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: No repository password; set CRM_BACKUP_PASSWORD or pass --password-file FILE.',
    );
    const flag = await runCli(['init', '--repo', '/tmp/x', '--password', 'secret']);
    expect(flag.code).toBe(2);
  });

  it('exits 2 on an unknown repository scheme', async () => {
    const r = await runCli(['list', '--repo', 'ftp://host/backups'], { env: { CRM_BACKUP_PASSWORD: 'x' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: Unknown repository location scheme "ftp:"; use a folder path or s3://bucket/prefix.',
    );
  });
});

describe('MongoDB without a server', () => {
  it('doctor says it cannot connect in one sentence, without the password, and exits 1', async () => {
    const r = await runCli(['doctor', '--source', 'mongodb://root:pw@127.0.0.1:1/crm']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'crm-backup: Cannot connect to mongodb://root@127.0.0.1:1/crm: connect ECONNREFUSED 127.0.0.1:1.',
    );
  }, 60_000);

  it('a URL option the MongoDB client refuses exits 2 in one sentence, without the password', async () => {
    const r = await runCli(['doctor', '--source', 'mongodb://root:s3cret@127.0.0.1:1/crm?bogusOption=1']);
    expect(r.stderr.trim()).toBe(
      'crm-backup: "mongodb://root@127.0.0.1:1/crm" is not a MongoDB URL crm-backup can read: option bogusoption is not supported.',
    );
    expect(r.stderr).not.toContain('s3cret');
    expect(r.code).toBe(2);
  });
});

describe('MongoDB URLs are read by the driver before anything else', () => {
  // each URL is one WHATWG `new URL()` refuses or misreads; the name is derived before the driver loads
  const urls = [
    'mongodb://app:s3cret@a:27017,b:27017/crm',
    'mongodb+srv://app:s3cret@cluster0.example.net/crm?retryWrites=true',
  ];
  for (const url of urls) {
    it(`snapshot --source ${url.replace('s3cret', '…')}`, async () => {
      const r = await runCli(['snapshot', '--repo', '/tmp/crmb-never-created', '--source', url], {
        env: { CRM_BACKUP_PASSWORD: 'x' },
      });
      // the URL was read (a URL the driver cannot read exits 2, below); the repository comes next
      expect(r.stderr.trim()).toBe(
        'crm-backup: /tmp/crmb-never-created is not a crm-backup repository (no config object); run "crm-backup init --repo /tmp/crmb-never-created" first.',
      );
      expect(r.stderr).not.toContain('s3cret');
      expect(r.code).toBe(1);
    });
  }

  it('a URL its driver cannot read exits 2 in one sentence without the password', async () => {
    const r = await runCli(
      [
        'snapshot',
        '--repo',
        '/tmp/crmb-never-created',
        '--source',
        'mongodb://app:12/s3cret@a:27017,b:27017/crm',
      ],
      { env: { CRM_BACKUP_PASSWORD: 'x' } },
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: "mongodb://…" is not a MongoDB URL crm-backup can read: an "@" follows the host; percent-encode "@", "/", "?" and "#" in the user name and password (as %40, %2F, %3F and %23).',
    );
    expect(r.stderr).not.toContain('s3cret');
  });
});

describe('bad input gets one sentence, never a secret or a stack trace', () => {
  it('an unreachable server', async () => {
    const r = await runCli([
      'doctor',
      '--source',
      'postgres://app:supersecret@127.0.0.1:1/crm?sslpassword=alsosecret',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'crm-backup: Cannot connect to PostgreSQL at postgres://app@127.0.0.1:1/crm: connection refused (is the server running and listening there?).',
    );
    expect(r.stderr).not.toMatch(/supersecret|alsosecret| {4}at /);
  });
});
