import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend, openStorage, RetryBackend, S3Backend } from '../../../src/storage/index.js';
import { UsageError } from '../../../src/util/errors.js';

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-value-xyz' };

async function usage(location: string): Promise<UsageError> {
  const e = await openStorage(location, { s3: { env } }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UsageError);
  expect((e as UsageError).exitCode).toBe(2);
  return e as UsageError;
}

describe('openStorage', () => {
  it('opens folder paths, relative or absolute, and file:// URLs as local repositories', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'crmb-open-'));
    dirs.push(dir);
    const abs = await openStorage(dir);
    expect(abs).toBeInstanceOf(LocalBackend);
    expect(abs.location).toBe(dir);
    expect((await openStorage('some/relative/repo')).location).toBe(resolve('some/relative/repo'));
    expect((await openStorage(pathToFileURL(dir).href)).location).toBe(dir);
  });

  it('opens s3://bucket/prefix behind the retry decorator', async () => {
    const b = await openStorage('s3://my-bucket/crm/prod/', { s3: { env } });
    expect(b).toBeInstanceOf(RetryBackend);
    expect(b.location).toBe('s3://my-bucket/crm/prod');
    expect((b as RetryBackend).inner).toBeInstanceOf(S3Backend);
    await b.close?.();
    const bare = await openStorage('s3://my-bucket', { s3: { env }, retry: false });
    expect(bare).toBeInstanceOf(S3Backend);
    expect(bare.location).toBe('s3://my-bucket');
    await bare.close?.();
  });

  it('refuses unknown schemes in one sentence', async () => {
    expect((await usage('ftp://host/x')).message).toBe(
      'Unknown repository location scheme "ftp:"; use a folder path or s3://bucket/prefix.',
    );
    expect((await usage('gs://bucket/x')).message).toContain('"gs:"');
    expect((await usage('')).message).toMatch(/empty/);
  });

  it('refuses s3 locations with credentials or a query, without echoing them', async () => {
    const withCreds = await usage('s3://AKID:hunter2secret@bucket/p');
    expect(withCreds.message).not.toContain('hunter2secret');
    expect(withCreds.message).toContain('AWS_ACCESS_KEY_ID');
    const withQuery = await usage('s3://bucket/p?X-Amz-Signature=abcdef');
    expect(withQuery.message).not.toContain('abcdef');
    await usage('s3://bucket/a/../b');
    await usage('s3://b/x'); // one-letter bucket names are not valid
  });
});
