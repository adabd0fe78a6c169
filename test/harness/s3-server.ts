/**
 * A real S3-protocol server for tests: @20minutes/s3rver (pure JavaScript, files in
 * a temp folder) on loopback, or the external store named by CRMB_TEST_S3_URL
 * (e.g. MinIO from docker-compose, with AWS_* variables in the environment).
 *
 * What s3rver does not do, so tests declare it instead of failing on it:
 * - `If-None-Match: *` on PUT is ignored (create-only writes overwrite);
 * - AbortMultipartUpload is refused (MethodNotAllowed), so aborted uploads' parts stay in its temp folder;
 * - a PUT writes the object file in place, so a GET racing a PUT can see a partial object;
 * - a Range GET of an empty object announces one byte and sends none (the connection is reset);
 * - ListObjectsV2 continuation tokens use DES, which Node 17+ has only with `--openssl-legacy-provider`:
 *   that is why it runs in a child process started with that flag (which also keeps its loggers and
 *   exception handlers out of the test process);
 * - bucket-level requests (ListObjectsV2) signed by current SDKs fail its signature check, because it
 *   drops the trailing `/` of `/bucket/` from the canonical path; so signatures are not enforced
 *   (`allowMismatchedSignatures`). Unknown access key ids are still refused.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface S3TestServer {
  /** `s3://bucket/prefix`, unique per start so parallel runs against one external store do not collide. */
  readonly url: string;
  /** AWS_* variables to pass as the S3 backend's env (never merged into process.env). */
  readonly env: Readonly<Record<string, string>>;
  /** `s3rver` when started here, `external` for CRMB_TEST_S3_URL. */
  readonly kind: 's3rver' | 'external';
  stop(): Promise<void>;
}

const BUCKET = 'crmb-test';
// s3rver's built-in account; not a secret.
const S3RVER_KEY = 'S3RVER';

export async function startS3Server(): Promise<S3TestServer> {
  const runId = `run-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const external = process.env['CRMB_TEST_S3_URL'];
  if (external) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (k.startsWith('AWS_') && v !== undefined) env[k] = v;
    return {
      url: `${external.replace(/\/+$/, '')}/${runId}`,
      env,
      kind: 'external',
      stop: async () => undefined,
    };
  }

  const directory = await mkdtemp(join(tmpdir(), 'crmb-s3rver-'));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER_SCRIPT], {
    env: {
      ...process.env,
      S3RVER_MODULE: createRequire(import.meta.url).resolve('@20minutes/s3rver'),
      S3RVER_OPTIONS: JSON.stringify({
        address: '127.0.0.1',
        port: 0,
        silent: true,
        allowMismatchedSignatures: true,
        directory,
        configureBuckets: [{ name: BUCKET }],
      }),
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let port: number;
  try {
    port = await readPort(child);
  } catch (e) {
    child.kill('SIGKILL');
    await rm(directory, { recursive: true, force: true });
    throw e;
  }
  return {
    url: `s3://${BUCKET}/${runId}`,
    env: {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: S3RVER_KEY,
      AWS_SECRET_ACCESS_KEY: S3RVER_KEY,
      AWS_S3_FORCE_PATH_STYLE: 'true',
    },
    kind: 's3rver',
    stop: async () => {
      if (child.exitCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        await exited;
      }
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Runs in the child: starts s3rver, prints its port, and exits when the parent goes away (stdin closes). */
const SERVER_SCRIPT = `
const S3rver = require(process.env.S3RVER_MODULE);
const server = new S3rver(JSON.parse(process.env.S3RVER_OPTIONS));
server.run().then((a) => process.stdout.write(JSON.stringify({ port: a.port }) + '\\n'));
// close() waits for idle keep-alive sockets; do not let that hold up the test run.
const stop = () => { setTimeout(() => process.exit(0), 2000); server.close().finally(() => process.exit(0)); };
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
`;

async function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('s3rver did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with code ${code} before it started`)));
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    });
  });
}
