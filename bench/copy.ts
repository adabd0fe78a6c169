/**
 * What `crm-backup copy` costs when there is nothing new (a timer runs it every few minutes).
 *   npx tsx bench/copy.ts [--sources 10] [--snapshots 7] [--segments 200] [--to local|s3]
 * A local repository with `--sources` sources, each with `--snapshots` snapshots (4 tables of
 * 256 KiB) and `--segments` log segments (16 KiB each) of the PostgreSQL driver, written straight
 * into it (no database needed: copy never reads row data); copied once to a second repository
 * (a local folder, or the loopback S3 server with `--to s3`), then copied again with nothing
 * new: in-process (the copy work alone) with the origin cache and without it, and through the
 * real CLI (start-up, two scrypt key derivations at the default cost, the work), each
 * `--rounds` times; medians printed, per source too.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCopy } from '../src/copy/copy-job.js';
import { initRepository, openRepository, type Repository } from '../src/repository/index.js';
import { LocalBackend, openStorage } from '../src/storage/index.js';
import { memoryLogger } from '../src/util/log.js';
import { Secret } from '../src/util/redact.js';
import { startS3Server, type S3TestServer } from '../test/harness/s3-server.js';
import { CLI, ROOT } from '../test/helpers/cli.js';
import { installCleanup, makeTempDir, removeTempDir } from './lib/cleanup.js';
import { say } from './lib/steps.js';

const { values } = parseArgs({
  options: {
    sources: { type: 'string', default: '10' },
    snapshots: { type: 'string', default: '7' },
    segments: { type: 'string', default: '200' },
    to: { type: 'string', default: 'local' },
    rounds: { type: 'string', default: '5' },
  },
  strict: true,
});
const SOURCES = Number(values.sources);
const SNAPSHOTS = Number(values.snapshots);
const SEGMENTS = Number(values.segments);
const ROUNDS = Number(values.rounds);
const PASSWORD = 'copy benchmark, source';
const TO_PASSWORD = 'copy benchmark, destination';

const pos = (n: number): string => n.toString(16).toUpperCase().padStart(16, '0');
const T0 = 1_767_225_600_000_000n;

function bytes(n: number, seed: number): AsyncIterable<Uint8Array> {
  return (async function* () {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 4) b.writeUInt32LE((Math.imul(i + 1, 2654435761) ^ seed) >>> 0, i);
    yield b;
  })();
}

async function fill(repo: Repository): Promise<void> {
  for (let s = 0; s < SOURCES; s++) {
    const source = `db${s}.internal:5432/crm`;
    for (let k = 0; k < SNAPSHOTS; k++) {
      const micros = T0 + BigInt(k * SEGMENTS * 60) * 1_000_000n;
      const streams = [];
      for (let t = 0; t < 4; t++) {
        const table = `public.t${t}`;
        streams.push({ name: table, table, format: 'copy-text', rows: 1000, data: await repo.writeStream(bytes(256 * 1024, s * 1000 + k * 10 + t)) });
      }
      await repo.commitSnapshot({
        source, driver: 'postgres', driverFormatVersion: 1, tags: [], position: pos(1 + k * SEGMENTS * 100),
        consistentAt: new Date(Number(micros / 1000n)).toISOString(), consistentAtMicros: String(micros),
        startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), schemaFormat: 'pg-schema/1',
        schema: await repo.writeStream(bytes(4096, s)), streams, meta: {}, sourceUrl: `postgres://backup@${source}`,
      });
    }
    for (let g = 0; g < SEGMENTS; g++) {
      const last = T0 + BigInt((g + 1) * 60) * 1_000_000n;
      await repo.commitSegment({
        source, driver: 'postgres', driverFormatVersion: 1, fromPosition: pos(1 + g * 100), firstPosition: pos(2 + g * 100),
        lastPosition: pos(1 + (g + 1) * 100), firstCommitMicros: String(last - 59_000_000n), lastCommitMicros: String(last),
        coveredUntilMicros: String(last - 1n), transactions: 50, changes: 100, tables: ['public.t0'],
        data: await repo.writeStream(bytes(16 * 1024, s * 100_000 + g)), createdAt: new Date().toISOString(),
      });
    }
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeCli(args: string[], env: Record<string, string>): Promise<number> {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 && /"snapshots":0,"segments":0/.test(out) ? resolve() : reject(new Error(`copy exited ${code}: ${out}`))));
  });
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<void> {
  installCleanup();
  const dir = makeTempDir('crmb-copy-bench-');
  let s3: S3TestServer | undefined;
  try {
    const fromDir = join(dir, 'from');
    // the default scrypt cost (calibrated, ~0.4 s), as a real repository has: the CLI pays it twice
    const from = await initRepository(await LocalBackend.open(fromDir), new Secret(PASSWORD));
    let toLocation = join(dir, 'to');
    const toEnv: Record<string, string> = {};
    if (values.to === 's3') {
      s3 = await startS3Server();
      toLocation = `${s3.url}/copy`;
      for (const [k, v] of Object.entries(s3.env)) toEnv[`CRM_BACKUP_TO_${k}`] = v;
    }
    const toStorage = await openStorage(toLocation, s3 ? { s3: { env: s3.env } } : {});
    const to = await initRepository(toStorage, new Secret(TO_PASSWORD));
    let t0 = performance.now();
    await fill(from);
    say(`source: ${SOURCES} sources x (${SNAPSHOTS} snapshots + ${SEGMENTS} segments) written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const cacheDir = join(dir, 'cache');
    t0 = performance.now();
    const first = await runCopy({ from, to, cacheDir: join(cacheDir, 'crm-backup', 'copy'), log: memoryLogger() });
    say(`first copy to ${values.to}: ${first.snapshots} snapshots, ${first.segments} segments, ${(first.bytesRead / 1048576).toFixed(1)} MiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const inProcess = async (cache: boolean): Promise<{ s: number; reads: number }> => {
      // fresh opens, as a timer's run has: no manifest cached in memory
      const a = await openRepository(await LocalBackend.open(fromDir), new Secret(PASSWORD));
      const b = await openRepository(await openStorage(toLocation, s3 ? { s3: { env: s3.env } } : {}), new Secret(TO_PASSWORD));
      const t = performance.now();
      const r = await runCopy({ from: a, to: b, ...(cache ? { cacheDir: join(cacheDir, 'crm-backup', 'copy') } : {}), log: memoryLogger() });
      const s = (performance.now() - t) / 1000;
      await Promise.all([a.close(), b.close()]);
      if (r.snapshots + r.segments !== 0) throw new Error('the idle copy copied something');
      return { s, reads: r.manifestsRead };
    };
    const manifests = SOURCES * (SNAPSHOTS + SEGMENTS);
    for (const cache of [true, false]) {
      const runs = [];
      for (let i = 0; i < ROUNDS; i++) runs.push(await inProcess(cache));
      const m = median(runs.map((r) => r.s));
      say(`idle copy, in-process, ${cache ? 'with the origin cache' : 'without cache'}: ${(m * 1000).toFixed(0)} ms (${((m * 1000) / SOURCES).toFixed(1)} ms per source; ${runs[0]!.reads} of ${2 * manifests} manifests read)`);
    }
    const env = { CRM_BACKUP_PASSWORD: PASSWORD, CRM_BACKUP_TO_PASSWORD: TO_PASSWORD, XDG_CACHE_HOME: cacheDir, ...toEnv };
    for (const extra of [[], ['--no-cache']]) {
      const runs = [];
      for (let i = 0; i < ROUNDS; i++) runs.push(await timeCli(['copy', '--repo', fromDir, '--to', toLocation, '--json', ...extra], env));
      const m = median(runs);
      say(`idle copy, CLI ${extra.join(' ') || '(cache)'}: ${m.toFixed(2)} s (${((m * 1000) / SOURCES).toFixed(0)} ms per source; start-up and two key derivations included)`);
    }
    await Promise.all([from.close(), to.close()]);
  } finally {
    await s3?.stop();
    removeTempDir(dir);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
