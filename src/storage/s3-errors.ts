/**
 * Maps AWS SDK failures to StorageError. Decisions use the HTTP status and the
 * S3 error code, never message text; messages are ours, so nothing the SDK
 * echoes (signed URLs, headers) can leak a secret.
 */
import { AbortError, StorageError } from '../util/errors.js';

export interface S3ErrorContext {
  /** Completes "Could not … object k in s3://b/p", e.g. `read`, `write`, `list`. */
  readonly op: string;
  readonly key?: string | undefined;
  readonly location: string;
  /** Redacted endpoint, or undefined for AWS. */
  readonly endpoint: string | undefined;
  readonly credentialSource: string;
  readonly signal?: AbortSignal | undefined;
}

interface SdkErrorShape {
  name?: unknown;
  Code?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export function s3ErrorInfo(e: unknown): { name: string; status: number | undefined } {
  const x = (typeof e === 'object' && e !== null ? e : {}) as SdkErrorShape;
  const name =
    [x.Code, x.name, x.code].find((v): v is string => typeof v === 'string' && v !== 'Error') ?? 'Error';
  return { name, status: x.$metadata?.httpStatusCode ?? x.$response?.statusCode };
}

const THROTTLED = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'TooManyRequests',
  'RequestLimitExceeded',
]);
const DENIED = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'AllAccessDisabled',
]);

export function mapS3Error(e: unknown, ctx: S3ErrorContext): Error {
  if (e instanceof StorageError || e instanceof AbortError) return e;
  const { name, status } = s3ErrorInfo(e);
  if (ctx.signal?.aborted || name === 'AbortError') return new AbortError('interrupted', { cause: e });
  const what = ctx.key !== undefined ? `object ${ctx.key} in ${ctx.location}` : ctx.location;
  const at = ctx.endpoint ? ` at ${ctx.endpoint}` : '';
  const base = { cause: e, key: ctx.key };
  const fail = (message: string, permanent: boolean, reason?: StorageError['reason']): StorageError =>
    new StorageError(message, { ...base, permanent, ...(reason ? { reason } : {}) });

  if (name === 'NoSuchBucket') {
    return fail(
      `Bucket of ${ctx.location} does not exist${at}; create it or fix the repository location.`,
      true,
    );
  }
  if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) {
    return fail(`Object ${ctx.key ?? '(none)'} does not exist in ${ctx.location}.`, true, 'not-found');
  }
  if (name === 'PreconditionFailed' || status === 412) {
    return fail(
      `Object ${ctx.key ?? '(none)'} already exists in ${ctx.location}; a create-only write expected it to be absent.`,
      true,
      'exists',
    );
  }
  if (DENIED.has(name) || status === 403) {
    return fail(
      `Access denied (${name}) to ${ctx.op} ${what}${at}; the credentials came from ${ctx.credentialSource} and need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket there.`,
      true,
    );
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return fail(
      `The bucket of ${ctx.location} is in another region than the one configured; set AWS_REGION to the bucket's region.`,
      true,
    );
  }
  if (THROTTLED.has(name) || status === 429 || status === 503) {
    return fail(
      `The store throttled the request to ${ctx.op} ${what} (${name}, HTTP ${status ?? '?'}); it will be retried.`,
      false,
    );
  }
  // 409 ConditionalRequestConflict: a concurrent conditional write; S3 says to retry.
  if (
    status === 409 ||
    name === 'RequestTimeout' ||
    (status !== undefined && status >= 500 && status !== 501)
  ) {
    return fail(`The store failed to ${ctx.op} ${what} (${name}, HTTP ${status ?? '?'}).`, false);
  }
  if (name === 'NotImplemented' || status === 501) {
    return fail(
      `The store${at} does not implement what is needed to ${ctx.op} ${what}; expected an S3-compatible API.`,
      true,
    );
  }
  if (status === undefined) {
    // No HTTP answer at all: connection refused or reset, DNS, timeout. Usually transient.
    return fail(`Could not reach the store to ${ctx.op} ${what}${at} (${name}).`, false);
  }
  return fail(`The store refused to ${ctx.op} ${what} (${name}, HTTP ${status}).`, true);
}
