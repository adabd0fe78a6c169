/**
 * Rough edges a DBA hit on a first try (issue #10 item 12), each checked as the user meets it:
 * the real CLI's exit code and sentence, or the state a restore leaves behind. Real servers only:
 * a throwaway PostgreSQL that asks for passwords, s3rver for s3:// repositories.
 */
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload } from '../../scripts/crm/workload.js';
import { driver as pgDriver } from '../../drivers/postgres/index.js';
import { addKey } from '../../src/repository/index.js';
import { restore } from '../../src/restore/restore.js';
import { AbortError } from '../../src/util/errors.js';
import { memoryLogger } from '../../src/util/log.js';
import { Secret } from '../../src/util/redact.js';
import { createPgDatabase, pgQuery, startOwnPostgres, type ThrowawayServer } from '../harness/index.js';
import { startS3Server, type S3TestServer } from '../harness/s3-server.js';
import { runCli } from '../helpers/cli.js';
import {
  FAST_SCRYPT,
  serverNowMicros,
  startStream,
  takeSnapshot,
  tempRepo,
  TEST_PASSWORD,
  type TempRepo,
} from '../helpers/pitr.js';

const PASSWORD_ENV = { CRM_BACKUP_PASSWORD: TEST_PASSWORD, CRM_BACKUP_REPO: undefined };

describe('key remove takes what key list shows', () => {
  let tr: TempRepo;
  beforeAll(async () => {
    tr = await tempRepo();
  });
  afterAll(async () => tr?.dispose());

  it('removes the key a unique prefix names, as the help example does', async () => {
    const { id } = await addKey(tr.storage, new Secret(TEST_PASSWORD), new Secret('second'), {
      scrypt: FAST_SCRYPT,
    });
    const r = await runCli(['key', 'remove', '--repo', tr.dir, id.slice(0, 6)], { env: PASSWORD_ENV });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`Removed key ${id}.`);
    expect(await readdir(join(tr.dir, 'keys'))).not.toContain(id);
  });

  it('refuses a prefix several keys share, naming them', async () => {
    // 17 keys: two of them share a first hex digit
    const ids = [...(await readdir(join(tr.dir, 'keys')))];
    for (let i = 0; i < 16; i++)
      ids.push(
        (await addKey(tr.storage, new Secret(TEST_PASSWORD), new Secret(`k${i}`), { scrypt: FAST_SCRYPT }))
          .id,
      );
    const prefix = [...'0123456789abcdef'].find((c) => ids.filter((id) => id.startsWith(c)).length >= 2)!;
    const matches = ids.filter((id) => id.startsWith(prefix)).sort();
    const before = (await readdir(join(tr.dir, 'keys'))).length;
    const r = await runCli(['key', 'remove', '--repo', tr.dir, prefix], { env: PASSWORD_ENV });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `crm-backup: Key prefix ${prefix} matches ${matches.length} keys of the repository at ${tr.dir} (${matches.join(', ')}); give more of the id.`,
    );
    expect((await readdir(join(tr.dir, 'keys'))).length).toBe(before);
  });

  it('key add without a new password names the option for the new one', async () => {
    const r = await runCli(['key', 'add', '--repo', tr.dir], {
      env: { ...PASSWORD_ENV, CRM_BACKUP_NEW_PASSWORD: undefined },
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: No new password for the key; set CRM_BACKUP_NEW_PASSWORD or pass --new-password-file FILE.',
    );
  });
});

describe('init goes only into an empty place', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crmb-init-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('refuses a folder of other files, naming what is there, and writes nothing', async () => {
    const folder = join(dir, 'documents');
    await mkdir(join(folder, 'photos'), { recursive: true });
    await writeFile(join(folder, 'notes.txt'), 'my notes\n');
    await writeFile(join(folder, 'photos', 'cat.jpg'), 'not really a cat\n');
    const r = await runCli(['init', '--repo', folder], { env: PASSWORD_ENV });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `crm-backup: Cannot create a repository at ${folder}: it is not empty (it holds notes.txt, photos/cat.jpg) and is not a crm-backup repository; give init an empty or new folder or S3 prefix.`,
    );
    expect((await readdir(folder)).sort()).toEqual(['notes.txt', 'photos']);
  });

  it('creates a repository in an empty folder, then refuses to create one there again', async () => {
    const folder = join(dir, 'empty');
    await mkdir(folder);
    const first = await runCli(['init', '--repo', folder], { env: PASSWORD_ENV });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const again = await runCli(['init', '--repo', folder], { env: PASSWORD_ENV });
    expect(again.code).toBe(1);
    expect(again.stderr.trim()).toBe(
      `crm-backup: ${folder} already holds a crm-backup repository (it has a config object); open it instead of running init again.`,
    );
  });
});

describe('s3:// repositories', () => {
  let s3: S3TestServer;
  beforeAll(async () => {
    s3 = await startS3Server();
  });
  afterAll(async () => s3?.stop());

  it("print nothing of the AWS SDK's own on stderr (its Node.js version warning above all)", async () => {
    const env = {
      ...s3.env,
      ...PASSWORD_ENV,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined,
    };
    const init = await runCli(['init', '--repo', `${s3.url}/warn`], { env });
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    const list = await runCli(['list', '--repo', `${s3.url}/warn`], { env });
    expect(list.stderr).toBe('');
    expect(list.code).toBe(0);
  });
});

describe('a PostgreSQL server that asks for a password', () => {
  let server: ThrowawayServer;
  let dir: string;
  let url: string;
  beforeAll(async () => {
    server = await startOwnPostgres({ hostAuth: 'scram-sha-256' });
    dir = await mkdtemp(join(tmpdir(), 'crmb-pgpass-'));
    await pgQuery(server.url, `CREATE ROLE app LOGIN PASSWORD 'app-secret'`);
    url = `postgres://app@127.0.0.1:${server.port}/postgres`;
  });
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });
  // no password anywhere: not in the URL, not in PGPASSWORD, not in a password file
  const noPassword = (): Record<string, string | undefined> => ({
    PGPASSWORD: undefined,
    PGPASSFILE: join(dir, 'no-such-pgpass'),
    HOME: dir,
  });

  it('says the server asks for a password and where to give it (SCRAM)', async () => {
    const r = await runCli(['doctor', '--source', url], { env: noPassword() });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `crm-backup: PostgreSQL at ${url} asks for a password for user "app" and none was given; put it in the URL, in PGPASSWORD or in ~/.pgpass (or the file PGPASSFILE names).`,
    );
  });

  it('still finds the password in PGPASSWORD and in the password file', async () => {
    const viaEnv = await runCli(['doctor', '--source', url], {
      env: { ...noPassword(), PGPASSWORD: 'app-secret' },
    });
    expect(viaEnv.stdout).toContain('wal_level');
    expect(viaEnv.stderr).not.toMatch(/password|credentials/);
    const pgpass = join(dir, 'pgpass');
    await writeFile(pgpass, `127.0.0.1:${server.port}:*:app:app-secret\n`);
    await chmod(pgpass, 0o600);
    const viaFile = await runCli(['doctor', '--source', url], {
      env: { ...noPassword(), PGPASSFILE: pgpass },
    });
    expect(viaFile.stdout).toContain('wal_level');
    expect(viaFile.stderr).not.toMatch(/password|credentials/);
  });
});

describe('an interrupted restore says what it left in the target', () => {
  let tr: TempRepo;
  let sourceUrl: string;
  const dbs: Array<{ drop(): Promise<void> }> = [];
  const newTarget = async (): Promise<string> => {
    const d = await createPgDatabase('rough_dst');
    dbs.push(d);
    return d.url;
  };
  beforeAll(async () => {
    const source = await createPgDatabase('rough_src');
    dbs.push(source);
    sourceUrl = source.url;
    await seedCrm(sourceUrl, { scale: 0.005, seed: 3 });
    tr = await tempRepo();
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => {});
    await tr?.dispose();
  });

  /** Restores, aborting as soon as the restore logs `event`; returns the error it ends with. */
  async function interruptAt(
    event: string,
    targetUrl: string,
    target: Parameters<typeof restore>[0]['target'],
  ): Promise<{ error: unknown; message: string }> {
    const controller = new AbortController();
    const log = memoryLogger();
    let message = '';
    const progress = log.progress;
    log.progress = (e, m, f) => {
      progress(e, m, f);
      if (e === event && !controller.signal.aborted) {
        message = m;
        controller.abort('SIGINT');
      }
    };
    const error = await restore({
      repo: tr.repo,
      targetUrl,
      source: 'rough',
      target,
      jobs: 1,
      log,
      signal: controller.signal,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error, message };
  }

  it('while tables load: schema created, how many tables loaded, and the command that cleans it', async () => {
    await takeSnapshot(tr.repo, pgDriver, sourceUrl, 'rough', ['loads']);
    const sums = await pgTableChecksums(sourceUrl);
    const target = await newTarget();
    const { error } = await interruptAt('restore.load', target, { kind: 'tag', tag: 'loads' });
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).exitCode).toBe(130);
    expect((error as Error).message).toBe(
      `Restore interrupted: the target database holds a partial restore that must not be used (schema created, 1 of ${Object.keys(sums).length} tables loaded, no indexes or constraints yet); run the same restore command again with --clean to replace it, or drop and recreate the target database.`,
    );
    // the advice holds: the same restore with --clean gives the source exactly
    await restore({
      repo: tr.repo,
      targetUrl: target,
      source: 'rough',
      target: { kind: 'tag', tag: 'loads' },
      jobs: 2,
      clean: true,
      log: memoryLogger(),
    });
    expect(await pgTableChecksums(target)).toEqual(sums);
  });

  it('while the log replays: everything loaded and built, and how far the replay reached', async () => {
    const stream = startStream(tr.repo, pgDriver, sourceUrl, 'rough');
    await stream.started;
    await takeSnapshot(tr.repo, pgDriver, sourceUrl, 'rough', ['replay']);
    await runWorkload(sourceUrl, { ratePerSecond: 200, durationMs: 1500, seed: 5 });
    const at = await serverNowMicros(sourceUrl);
    await stream.waitCovered(at);
    await stream.stop();
    const tables = Object.keys(await pgTableChecksums(sourceUrl)).length;
    const { error, message } = await interruptAt('restore.replay', await newTarget(), {
      kind: 'time',
      micros: at,
    });
    const reached = /up to (\S+)$/.exec(message)?.[1];
    expect(reached).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as Error).message).toBe(
      `Restore interrupted: the target database holds a partial restore that must not be used (schema created, all ${tables} tables loaded, indexes and constraints built, log replayed up to ${reached}); run the same restore command again with --clean to replace it, or drop and recreate the target database.`,
    );
  });
});
