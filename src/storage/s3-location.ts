/**
 * `s3://bucket/prefix` and the standard AWS environment variables, turned into
 * client settings. Nothing here talks to the network; bad input is a UsageError.
 */
import { UsageError } from '../util/errors.js';
import { redactUrl } from '../util/redact.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface S3Location {
  readonly bucket: string;
  /** Without leading or trailing `/`; empty when the repository is the whole bucket. */
  readonly prefix: string;
}

export interface S3Settings {
  /** Custom endpoint (MinIO, Ceph, R2…), or undefined for AWS. */
  readonly endpoint: string | undefined;
  readonly region: string;
  readonly forcePathStyle: boolean;
  /** Undefined: let the SDK's default chain find them (profile, SSO, instance role). */
  readonly credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | undefined;
  /** Where credentials came from, for error messages; names variables, never values. */
  readonly credentialSource: string;
}

// Permissive on purpose: S3-compatible stores accept more than AWS's strict rules.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$/;

export function parseS3Location(location: string): S3Location {
  // Parsed by hand: URL would silently resolve `a/../b` and hide what the user typed.
  const m = /^s3:\/\/([^/?#]*)([^?#]*)([?#].*)?$/i.exec(location);
  if (!m)
    throw new UsageError(
      `Repository location ${redactUrl(location)} is not an s3:// URL; expected s3://bucket/prefix.`,
    );
  const [, authority = '', path = '', rest] = m;
  if (authority.includes('@')) {
    throw new UsageError(
      'Repository location s3://… contains credentials; remove them and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead.',
    );
  }
  if (rest !== undefined) {
    throw new UsageError(
      `Repository location s3://${authority}/… has a query or fragment; expected s3://bucket/prefix.`,
    );
  }
  if (!BUCKET.test(authority)) {
    throw new UsageError(
      `Bucket name ${JSON.stringify(authority)} in the repository location is not valid; expected s3://bucket/prefix.`,
    );
  }
  const prefix = path.replace(/^\/+|\/+$/g, '');
  if (prefix !== '' && prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
    throw new UsageError(
      `Prefix ${JSON.stringify(prefix)} in s3://${authority}/… has empty, "." or ".." segments; expected s3://bucket/prefix.`,
    );
  }
  return { bucket: authority, prefix };
}

function parseBool(name: string, raw: string | undefined): boolean | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes)$/i.test(raw)) return true;
  if (/^(0|false|no)$/i.test(raw)) return false;
  throw new UsageError(`${name} is ${JSON.stringify(raw)}; expected true or false.`);
}

export function s3SettingsFromEnv(env: Env): S3Settings {
  const rawEndpoint = env['AWS_ENDPOINT_URL_S3'] || env['AWS_ENDPOINT_URL'] || undefined;
  const endpointVar = env['AWS_ENDPOINT_URL_S3'] ? 'AWS_ENDPOINT_URL_S3' : 'AWS_ENDPOINT_URL';
  if (rawEndpoint !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(rawEndpoint);
    } catch {
      u = undefined;
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) {
      throw new UsageError(
        `${endpointVar} is ${redactUrl(rawEndpoint)}; expected an http:// or https:// URL.`,
      );
    }
  }
  // A custom endpoint usually has no virtual-host DNS for buckets, so path style is the safe default there.
  const forcePathStyle =
    parseBool('AWS_S3_FORCE_PATH_STYLE', env['AWS_S3_FORCE_PATH_STYLE']) ?? rawEndpoint !== undefined;
  // AWS needs the bucket's real region; other stores accept anything, and us-east-1 is what they expect.
  const region = env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || 'us-east-1';

  const accessKeyId = env['AWS_ACCESS_KEY_ID'];
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY'];
  const sessionToken = env['AWS_SESSION_TOKEN'] || undefined;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    throw new UsageError(
      `${accessKeyId ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is set but ${accessKeyId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is not; set both or neither.`,
    );
  }
  const credentials =
    accessKeyId && secretAccessKey
      ? { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
      : undefined;
  const credentialSource = credentials
    ? `AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY${sessionToken ? ' with AWS_SESSION_TOKEN' : ''}`
    : `the AWS SDK default chain${env['AWS_PROFILE'] ? ` (AWS_PROFILE=${env['AWS_PROFILE']})` : ''}, since AWS_ACCESS_KEY_ID is not set`;
  return { endpoint: rawEndpoint, region, forcePathStyle, credentials, credentialSource };
}
