import { describe, expect, it } from 'vitest';
import { mapS3Error } from '../../../src/storage/s3-errors.js';
import { parseS3Location, s3SettingsFromEnv } from '../../../src/storage/s3-location.js';
import { cutParts } from '../../../src/storage/s3-parts.js';
import type { StorageError } from '../../../src/util/errors.js';
import { AbortError, UsageError } from '../../../src/util/errors.js';
import { chunks } from './conformance.js';

describe('S3 location and environment', () => {
  it('parses bucket and prefix', () => {
    expect(parseS3Location('s3://b1/a/b/')).toEqual({ bucket: 'b1', prefix: 'a/b' });
    expect(parseS3Location('s3://b1')).toEqual({ bucket: 'b1', prefix: '' });
  });

  it('reads endpoint, region, path style and credentials from the standard variables', () => {
    const s = s3SettingsFromEnv({
      AWS_ENDPOINT_URL: 'http://generic:9000',
      AWS_ENDPOINT_URL_S3: 'http://minio:9000',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'id',
      AWS_SECRET_ACCESS_KEY: 'sekret',
      AWS_SESSION_TOKEN: 'tok',
    });
    expect(s).toMatchObject({ endpoint: 'http://minio:9000', region: 'eu-west-1', forcePathStyle: true });
    expect(s.credentials).toEqual({ accessKeyId: 'id', secretAccessKey: 'sekret', sessionToken: 'tok' });
    expect(s.credentialSource).toBe('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY with AWS_SESSION_TOKEN');
    expect(
      s3SettingsFromEnv({ AWS_ENDPOINT_URL: 'http://m:9000', AWS_S3_FORCE_PATH_STYLE: 'false' })
        .forcePathStyle,
    ).toBe(false);
    const aws = s3SettingsFromEnv({ AWS_REGION: 'us-west-2', AWS_PROFILE: 'backup' });
    expect(aws).toMatchObject({
      endpoint: undefined,
      region: 'us-west-2',
      forcePathStyle: false,
      credentials: undefined,
    });
    expect(aws.credentialSource).toContain('AWS_PROFILE=backup');
  });

  it('refuses half-set credentials and bad values', () => {
    expect(() => s3SettingsFromEnv({ AWS_ACCESS_KEY_ID: 'id' })).toThrow(UsageError);
    expect(() => s3SettingsFromEnv({ AWS_SECRET_ACCESS_KEY: 'sekret' })).toThrow(
      /AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not/,
    );
    expect(() => s3SettingsFromEnv({ AWS_ENDPOINT_URL: 'minio:9000' })).toThrow(UsageError);
    expect(() => s3SettingsFromEnv({ AWS_S3_FORCE_PATH_STYLE: 'maybe' })).toThrow(UsageError);
  });
});

describe('S3 error mapping', () => {
  const ctx = {
    op: 'read',
    key: 'k',
    location: 's3://b/p',
    endpoint: 'http://minio:9000/',
    credentialSource: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
  };
  const sdk = (name: string, status?: number) =>
    Object.assign(new Error('sdk text with X-Amz-Signature=zzz'), {
      name,
      $metadata: { httpStatusCode: status },
    });
  const map = (e: unknown) => mapS3Error(e, ctx) as StorageError;

  it('classifies by code and status', () => {
    expect(map(sdk('NoSuchKey', 404))).toMatchObject({ reason: 'not-found', permanent: true });
    expect(map(sdk('NotFound', 404))).toMatchObject({ reason: 'not-found', permanent: true });
    expect(map(sdk('PreconditionFailed', 412))).toMatchObject({ reason: 'exists', permanent: true });
    expect(map(sdk('AccessDenied', 403))).toMatchObject({ reason: 'io', permanent: true });
    expect(map(sdk('SlowDown', 503))).toMatchObject({ permanent: false });
    expect(map(sdk('TooManyRequests', 429))).toMatchObject({ permanent: false });
    expect(map(sdk('InternalError', 500))).toMatchObject({ permanent: false });
    expect(map(sdk('ConditionalRequestConflict', 409))).toMatchObject({ permanent: false });
    expect(map(sdk('NotImplemented', 501))).toMatchObject({ permanent: true });
    expect(map(sdk('InvalidArgument', 400))).toMatchObject({ permanent: true });
    expect(map(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toMatchObject({
      permanent: false,
    });
    expect(map(sdk('NoSuchBucket', 404))).toMatchObject({ reason: 'io', permanent: true });
    expect(mapS3Error(sdk('AbortError'), ctx)).toBeInstanceOf(AbortError);
  });

  it('writes its own messages: credential variables named, SDK text and secrets left out', () => {
    const m = map(sdk('AccessDenied', 403)).message;
    expect(m).toContain('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    expect(m).not.toContain('X-Amz-Signature');
  });
});

describe('cutParts', () => {
  const sizes = async (body: Parameters<typeof cutParts>[0], part: number) => {
    const out: number[] = [];
    for await (const p of cutParts(body, part)) out.push(p.length);
    return out;
  };
  it('cuts streams and buffers into full parts and a shorter last one', async () => {
    expect(await sizes(chunks([]), 4)).toEqual([0]);
    expect(await sizes(new Uint8Array(0), 4)).toEqual([0]);
    expect(await sizes(chunks([new Uint8Array(3), new Uint8Array(3), new Uint8Array(2)]), 4)).toEqual([4, 4]);
    expect(await sizes(chunks([new Uint8Array(9)]), 4)).toEqual([4, 4, 1]);
    expect(await sizes(new Uint8Array(9), 4)).toEqual([4, 4, 1]);
  });
  it('keeps the bytes in order across chunk boundaries', async () => {
    const data = Uint8Array.from({ length: 23 }, (_, i) => i);
    const parts: number[] = [];
    for await (const p of cutParts(chunks([data.subarray(0, 5), data.subarray(5, 6), data.subarray(6)]), 7))
      parts.push(...p);
    expect(parts).toEqual([...data]);
  });
});
