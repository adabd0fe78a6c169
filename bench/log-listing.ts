/**
 * How long `crm-backup log` takes on a long stored log.
 *   npx tsx bench/log-listing.ts [--seconds 120] [--connections 4] [--rows 5] [--segment-seconds 2]
 * One throwaway PostgreSQL 15 with the reference CRM (seedCrm scale 0.05); `crm-backup stream`'s
 * job runs while the benchmark's stream-under-load step writes (`UPDATE contacts` over ranges of
 * `--rows` ids, each its own transaction, on `--connections` sessions, as fast as they go) beside
 * the CRM workload (inserts, deletes, multi-table transactions). Then the real CLI lists the
 * whole log, a 10-second window of it, and one table's transactions, with stdout to /dev/null,
 * and the same listings are timed in-process (without the CLI's start-up).
 */
import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { driver } from '../drivers/postgres/index.js';
import { seedCrm } from '../scripts/crm/seed.js';
import { runWorkload } from '../scripts/crm/workload.js';
import { runStream } from '../src/backup/stream-job.js';
import { initRepository } from '../src/repository/index.js';
import { listTransactions, newLogStats, openSourceLog, type LogQuery } from '../src/restore/log.js';
import { LocalBackend } from '../src/storage/index.js';
import { memoryLogger } from '../src/util/log.js';
import { Secret } from '../src/util/redact.js';
import { formatMicros } from '../src/util/time.js';
import { startOwnPostgres } from '../test/harness/index.js';
import { CLI, ROOT } from '../test/helpers/cli.js';
import { makeTempDir, removeTempDir } from './lib/cleanup.js';
import { runPgUpdateLoad } from './lib/postgres-db.js';
import { createDb } from './lib/pg.js';
import { say } from './lib/steps.js';

const NAME = 'log_bench';
const PASSWORD = 'log listing benchmark';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    connections: { type: 'string', default: '4' },
    rows: { type: 'string', default: '5' },
    'segment-seconds': { type: 'string', default: '2' },
  },
  strict: true,
});
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const rows = Number(values.rows);
const segmentSeconds = Number(values['segment-seconds']);

/** Runs the CLI with stdout to /dev/null; wall time in seconds and the last stderr line. */
async function timeCli(dir: string, args: string[]): Promise<{ seconds: number; summary: string }> {
  const devnull = await open('/dev/null', 'w');
  const started = performance.now();
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
        cwd: ROOT,
        env: { ...process.env, CRM_BACKUP_REPO: dir, CRM_BACKUP_PASSWORD: PASSWORD },
        stdio: ['ignore', devnull.fd, 'pipe'],
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`crm-backup ${args.join(' ')} exited ${code}: ${stderr}`));
        const last = stderr.trim().split('\n').at(-1) ?? '';
        const message = (() => {
          try {
            return (JSON.parse(last) as { message: string }).message;
          } catch {
            return last;
          }
        })();
        resolve({ seconds: (performance.now() - started) / 1000, summary: message });
      });
    });
  } finally {
    await devnull.close();
  }
}

async function main(): Promise<void> {
  const server = await startOwnPostgres();
  const dir = makeTempDir('crmb-log-bench-');
  try {
    const url = await createDb(server.url, 'crm');
    say(`seeding the reference CRM (scale 0.05)`);
    await seedCrm(url, { scale: 0.05, seed: 1 });
    const repoDir = join(dir, 'repo');
    const repo = await initRepository(await LocalBackend.open(repoDir), new Secret(PASSWORD), {
      scrypt: { N: 1024, r: 8, p: 1 },
    });
    const stop = new AbortController();
    let started: () => void = () => {};
    const isStarted = new Promise<void>((r) => (started = r));
    const log = memoryLogger();
    const info = log.info;
    log.info = (event, message, fields) => {
      if (event === 'stream.start') started();
      info(event, message, fields);
    };
    let covered = -1n;
    const stream = runStream({
      repo,
      driver,
      sourceUrl: url,
      name: NAME,
      segmentBytes: 64 * 1024 * 1024,
      segmentSeconds,
      log,
      signal: stop.signal,
      onSegment: (s) => {
        if (s.coveredUntilMicros > covered) covered = s.coveredUntilMicros;
      },
    });
    await isStarted;
    say(`load: ${connections} sessions of ${rows}-row UPDATEs for ${seconds} s, beside the CRM workload`);
    const [load, crm] = await Promise.all([
      runPgUpdateLoad(url, { rate: 1_000_000, seconds, connections, rowsPerStatement: rows }),
      runWorkload(url, { ratePerSecond: 100, durationMs: seconds * 1000, seed: 7 }),
    ]);
    say(
      `   ${load.statements} UPDATE transactions (${load.changes} rows) and ${crm.total} CRM operations committed`,
    );
    const end = BigInt(Date.now()) * 1000n;
    while (covered < end) {
      await new Promise((r) => setTimeout(r, 200));
      if (stop.signal.aborted) break;
    }
    stop.abort();
    await stream;
    const segments = await repo.listSegments(NAME);
    const bytes = segments.reduce((n, s) => n + s.data.bytes, 0);
    const first = segments.reduce(
      (m, s) => (BigInt(s.firstCommitMicros) < m ? BigInt(s.firstCommitMicros) : m),
      end,
    );
    const middle = first + BigInt(Math.round((seconds / 2) * 1e6));
    const window = [formatMicros(middle), formatMicros(middle + 10_000_000n)];

    const cases: Array<{ what: string; args: string[]; query: LogQuery }> = [
      { what: 'whole log', args: [], query: {} },
      {
        what: '10-second window',
        args: ['--from', window[0]!, '--to', window[1]!],
        query: { fromMicros: middle, toMicros: middle + 10_000_000n },
      },
      { what: '--tables deals', args: ['--tables', 'deals'], query: { tables: ['deals'] } },
    ];
    const sourceLog = await openSourceLog(repo, NAME);
    for (const c of cases) {
      const stats = newLogStats();
      const t0 = performance.now();
      let listed = 0;
      for await (const _ of listTransactions(repo, sourceLog, c.query, stats)) listed++;
      const inProcess = (performance.now() - t0) / 1000;
      const cli = await timeCli(repoDir, ['log', ...c.args]);
      say(
        `log ${c.what}: ${listed} transactions listed of ${stats.transactionsRead} read, ${stats.segmentsRead} of ${segments.length} segments ` +
          `(${(bytes / 1048576).toFixed(1)} MiB of log); in-process ${inProcess.toFixed(2)} s, CLI ${cli.seconds.toFixed(2)} s ("${cli.summary}")`,
      );
    }
    await repo.close();
  } finally {
    removeTempDir(dir);
    await server.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
