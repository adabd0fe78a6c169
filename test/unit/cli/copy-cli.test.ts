/**
 * `crm-backup copy` options: --since in both forms, the destination's S3 settings from
 * CRM_BACKUP_TO_AWS_* (a group given for the destination takes none of the source's), its own
 * password, and the sentences for a missing password and a destination that is no repository.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sinceMicros } from '../../../src/cli/cmd-copy.js';
import { copyCacheDir, destinationEnv } from '../../../src/cli/copy-destination.js';
import { initRepository } from '../../../src/repository/index.js';
import { LocalBackend } from '../../../src/storage/local-backend.js';
import { UsageError } from '../../../src/util/errors.js';
import { Secret } from '../../../src/util/redact.js';
import { runCli } from '../../helpers/cli.js';
import { FAST_SCRYPT, TEST_PASSWORD } from '../../helpers/pitr.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('copy options', () => {
  it('--since takes a time with a zone or how long ago', () => {
    expect(sinceMicros('2026-01-01T00:00:00Z')).toBe(1_767_225_600_000_000n);
    const now = Date.UTC(2026, 0, 8);
    expect(sinceMicros('7d', now)).toBe(BigInt(Date.UTC(2026, 0, 1)) * 1000n);
    expect(sinceMicros('36h', now)).toBe(BigInt(now - 36 * 3_600_000) * 1000n);
    expect(() => sinceMicros('last week')).toThrow(
      new UsageError(
        '--since last week: give a time with a zone (2026-11-21T00:00:00Z) or how long ago (36h, 7d).',
      ),
    );
  });

  it("the destination's S3 settings: CRM_BACKUP_TO_AWS_* replace a whole group, the rest is shared", () => {
    const env = destinationEnv({
      AWS_ACCESS_KEY_ID: 'src-key',
      AWS_SECRET_ACCESS_KEY: 'src-secret',
      AWS_SESSION_TOKEN: 'src-token',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9000',
      CRM_BACKUP_TO_AWS_ACCESS_KEY_ID: 'dst-key',
      CRM_BACKUP_TO_AWS_SECRET_ACCESS_KEY: 'dst-secret',
      CRM_BACKUP_TO_AWS_REGION: 'eu-central-1',
    });
    expect(env).toMatchObject({
      AWS_ACCESS_KEY_ID: 'dst-key',
      AWS_SECRET_ACCESS_KEY: 'dst-secret',
      AWS_SESSION_TOKEN: undefined,
      AWS_REGION: 'eu-central-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9000',
    });
    expect(destinationEnv({ AWS_REGION: 'us-east-2' })).toEqual({ AWS_REGION: 'us-east-2' });
  });

  it('keeps its cache under XDG_CACHE_HOME', () => {
    expect(copyCacheDir({ XDG_CACHE_HOME: '/var/cache/x' })).toBe('/var/cache/x/crm-backup/copy');
  });

  it('needs the destination password, and a destination that is a repository', async () => {
    const a = await mkdtemp(join(tmpdir(), 'crmb-copy-a-'));
    const b = await mkdtemp(join(tmpdir(), 'crmb-copy-b-'));
    dirs.push(a, b);
    const repo = await initRepository(await LocalBackend.open(a), new Secret(TEST_PASSWORD), {
      scrypt: FAST_SCRYPT,
    });
    await repo.close();
    const env = { CRM_BACKUP_PASSWORD: TEST_PASSWORD, CRM_BACKUP_TO_PASSWORD: undefined, XDG_CACHE_HOME: b };
    const [noPassword, notRepo, noTo] = await Promise.all([
      runCli(['copy', '--repo', a, '--to', b], { env }),
      runCli(['copy', '--repo', a, '--to', b], { env: { ...env, CRM_BACKUP_TO_PASSWORD: 'other' } }),
      runCli(['copy', '--repo', a], { env }),
    ]);
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr.trim()).toBe(
      'crm-backup: No password for the destination repository (--to); set CRM_BACKUP_TO_PASSWORD or pass --to-password-file FILE.',
    );
    expect(notRepo.code).toBe(1);
    expect(notRepo.stderr.trim()).toBe(
      `crm-backup: The destination ${b} is not a crm-backup repository; create it with its own password first (CRM_BACKUP_PASSWORD=… crm-backup init --repo ${b}), then run copy again.`,
    );
    expect(noTo.code).toBe(2);
    expect(noTo.stderr).toContain("required option '--to <location>' not specified");
  });

  it('refuses a wrong destination password in one sentence, before reading anything', async () => {
    const a = await mkdtemp(join(tmpdir(), 'crmb-copy-a-'));
    const b = await mkdtemp(join(tmpdir(), 'crmb-copy-b-'));
    dirs.push(a, b);
    for (const [dir, pw] of [
      [a, TEST_PASSWORD],
      [b, 'the destination password'],
    ] as const)
      await (
        await initRepository(await LocalBackend.open(dir), new Secret(pw), { scrypt: FAST_SCRYPT })
      ).close();
    const r = await runCli(['copy', '--repo', a, '--to', b], {
      env: { CRM_BACKUP_PASSWORD: TEST_PASSWORD, CRM_BACKUP_TO_PASSWORD: 'not it', XDG_CACHE_HOME: b },
    });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`crm-backup: The password does not open any key of the repository at ${b}.`);
  });
});
