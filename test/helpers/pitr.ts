/**
 * Building blocks for end-to-end tests: a repository in a temp folder (or one that fails on
 * demand), a stream job running in this process or as a CLI process, the server's clock, and
 * checksums. Real servers only (the harness's): PostgreSQL
 * or MySQL/MariaDB, told apart by the URL's scheme.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { runSnapshot } from '../../src/backup/snapshot-job.js';
import { restore, type RestoreSummary, type RestoreTarget } from '../../src/restore/restore.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import { initRepository } from '../../src/repository/index.js';
import type { Repository, SegmentManifest } from '../../src/repository/repository-api.js';
import { FaultInjectionBackend, LocalBackend, type FaultKind } from '../../src/storage/index.js';
import type { StorageBackend } from '../../src/storage/storage-backend.js';
import { memoryLogger, type Logger } from '../../src/util/log.js';
import { Secret } from '../../src/util/redact.js';
import { dialectOfUrl } from '../../scripts/crm/connect.js';
import { createMysqlDatabase, createPgDatabase, pgQuery, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import { cliProcess } from './cli.js';
import { loggedStream, type LoggedStream } from './logged-stream.js';
import { mysqlExec } from './mysql.js';

export const TEST_PASSWORD = 'correct horse battery staple';
/** Cheap key derivation for tests; real repositories calibrate scrypt to ~0.5 s. */
export const FAST_SCRYPT = { N: 1024, r: 8, p: 1 };

export interface TempRepo {
  readonly dir: string;
  readonly storage: StorageBackend;
  readonly repo: Repository;
  dispose(): Promise<void>;
}

export async function tempRepo(wrap?: (inner: StorageBackend) => StorageBackend): Promise<TempRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'crmb-repo-'));
  const local = await LocalBackend.open(dir);
  const storage = wrap ? wrap(local) : local;
  const repo = await initRepository(storage, new Secret(TEST_PASSWORD), { scrypt: FAST_SCRYPT });
  return {
    dir,
    storage,
    repo,
    dispose: async () => {
      await repo.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A stream job running in this process (see logged-stream.ts). */
export type RunningStream = LoggedStream;

export function startStream(
  repo: Repository,
  driver: DriverModule,
  url: string,
  name: string,
  segmentSeconds = 1,
): RunningStream {
  return loggedStream(repo, driver, url, name, segmentSeconds);
}

/**
 * `crm-backup stream` as a child process on the repository folder `repoDir` (opened with
 * TEST_PASSWORD), for the tests that signal or kill it: `started` once it has logged
 * "stream.start" (rejects if it exited first); `transactionsSeen()`, what its progress lines
 * (JSON on stderr) count as taken into the open segment.
 */
export function streamProcess(
  url: string,
  repoDir: string,
  name = 'crm',
  extra = ['--segment-seconds', '1'],
) {
  const child = cliProcess(['stream', '--repo', repoDir, '--source', url, '--name', name, ...extra], {
    env: { CRM_BACKUP_PASSWORD: TEST_PASSWORD },
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  const started = waitFor(
    () => {
      if (stderr.includes('"stream.start"')) return true;
      if (child.exitCode !== null) throw new Error(`stream exited: ${stderr}`);
      return false;
    },
    'the stream process to start',
    90_000,
  );
  const transactionsSeen = (): number =>
    Math.max(
      0,
      ...stderr
        .split('\n')
        .filter((l) => l.includes('"stream.lag"'))
        .map((l) => Number(/, (\d+) transactions stored/.exec(l)?.[1] ?? 0)),
    );
  return { child, exited, started, stderr: () => stderr, transactionsSeen };
}

/** A repository in a temp folder whose storage fails on demand (`faults.inject`, `faults.heal`). */
export async function faultyTempRepo(): Promise<TempRepo & { readonly faults: FaultInjectionBackend }> {
  let faults: FaultInjectionBackend | undefined;
  const tr = await tempRepo((inner) => (faults = new FaultInjectionBackend(inner)));
  return { ...tr, faults: faults! };
}

/**
 * A stream that a repository fault stops, on PostgreSQL or MySQL/MariaDB alike: table `t` is
 * created on the source, the stream of it into `tr` started and a snapshot taken, rows 1 to 100
 * inserted and stored; then every put under data/ fails with `fault`, rows 101 to 200 are
 * inserted, and the stream ends. Returns the log's segments stored before the fault and what the
 * stream ended with.
 */
export async function streamUntilRepositoryFault(
  tr: TempRepo & { readonly faults: FaultInjectionBackend },
  driver: DriverModule,
  url: string,
  name: string,
  fault: FaultKind,
): Promise<{ stored: SegmentManifest[]; error: unknown }> {
  const mysqlSource = dialectOfUrl(url) === 'mysql';
  const exec = (sql: string): Promise<unknown> => (mysqlSource ? mysqlExec(url, sql) : pgQuery(url, sql));
  const rows = (from: number, to: number, v: string): string =>
    mysqlSource
      ? `INSERT INTO t SELECT seq, '${v}' FROM seq_${from}_to_${to}`
      : `INSERT INTO t SELECT g, '${v}' FROM generate_series(${from}, ${to}) g`;
  await exec('CREATE TABLE t (id int PRIMARY KEY, v text)');
  const stream = startStream(tr.repo, driver, url, name);
  await stream.started;
  await takeSnapshot(tr.repo, driver, url, name);
  await exec(rows(1, 100, 'before'));
  await stream.waitCovered(await serverNowMicros(url));
  const stored = await tr.repo.listSegments(name);
  tr.faults.inject({ op: 'put', keyPrefix: 'data/', error: fault });
  await exec(rows(101, 200, 'lost?'));
  const error = await stream.done.catch((e: unknown) => e);
  return { stored, error };
}

/** The server's clock as µs since the epoch (the clock commit times are taken from). */
export async function serverNowMicros(url: string): Promise<bigint> {
  if (dialectOfUrl(url) === 'mysql') return mysqlNowMicros(url);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const r = await c.query<{ us: string }>(
      `SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint::text AS us`,
    );
    return BigInt(r.rows[0]!.us);
  } finally {
    await c.end();
  }
}

async function mysqlNowMicros(url: string): Promise<bigint> {
  // UNIX_TIMESTAMP of a DATETIME(6) is exact decimal text: no float rounding on the way (and
  // mysqlExec's session is on +00:00, so no local time of a clock change is ambiguous)
  const [row] = (await mysqlExec(url, 'SELECT CAST(UNIX_TIMESTAMP(SYSDATE(6)) AS CHAR) AS s')) as Array<{
    s: string;
  }>;
  const [sec, frac = ''] = String(row?.s).split('.');
  return BigInt(sec!) * 1_000_000n + BigInt(frac.padEnd(6, '0').slice(0, 6));
}

const RESOLUTION_MICROS = { second: 1_000_000n, millisecond: 1_000n, microsecond: 1n } as const;

/**
 * Waits until the server's clock is in a later unit of the driver's commit-time resolution than
 * `at`. A log whose commit times are whole seconds (MySQL/MariaDB binlog headers) places a commit
 * at the start of its second, so a write made in the same second as `at` would rightly belong to
 * a restore --at `at`; a test that wants `at` to mark "before the next write" waits here first.
 * `clock` reads the server's clock (default: by the URL's scheme; the conformance suite passes its
 * factory's).
 */
export async function afterCommitUnit(
  url: string,
  driver: DriverModule,
  at: bigint,
  clock: (url: string) => Promise<bigint> = serverNowMicros,
): Promise<void> {
  const unit = RESOLUTION_MICROS[driver.transactions?.commitTimeResolution ?? 'microsecond'];
  const next = (at / unit + 1n) * unit;
  while (unit > 1n && (await clock(url)) < next) await new Promise((r) => setTimeout(r, 20));
}

/** Restores through the core's one restore entry point, as the CLI does; returns the summary. */
export async function restoreInto(
  repo: Repository,
  driver: DriverModule,
  source: string,
  target: RestoreTarget,
  targetUrl: string,
  opts: { tables?: string[]; jobs?: number; log?: Logger } = {},
): Promise<RestoreSummary> {
  return restore({
    repo,
    targetUrl,
    source,
    target,
    jobs: opts.jobs ?? 2,
    tables: opts.tables,
    log: opts.log ?? memoryLogger(),
    drivers: { byKind: async () => driver, forUrl: async () => driver },
  });
}

export async function takeSnapshot(
  repo: Repository,
  driver: DriverModule,
  url: string,
  name: string,
  tags: string[] = [],
): Promise<string> {
  const r = await runSnapshot({ repo, driver, sourceUrl: url, name, tags, jobs: 2, log: memoryLogger() });
  return r.id;
}

/** Kept under its old name for the PITR tests. */
export { pgQuery as pgExec } from '../harness/index.js';

export interface PitrFixture {
  /** The source database, made (and given `setup`) before the block's tests. */
  readonly source: TestDatabase;
  readonly repo: Repository;
  /** A new, empty target database, dropped with the rest after the block's tests. */
  target(): Promise<TestDatabase>;
}

/**
 * For one describe block: a source database `<prefix>_src` and a repository in a temp folder,
 * made before its tests, and targets `<prefix>_dst` made on demand; all removed after its tests.
 * The databases are on the harness's shared PostgreSQL, or its MariaDB with `dialect: 'mysql'`.
 */
export function pitrFixture(
  prefix: string,
  setup?: (sourceUrl: string) => Promise<unknown>,
  opts: { dialect?: 'pg' | 'mysql' } = {},
): PitrFixture {
  const createDatabase = opts.dialect === 'mysql' ? createMysqlDatabase : createPgDatabase;
  let source: TestDatabase | undefined;
  let tr: TempRepo | undefined;
  const targets: TestDatabase[] = [];
  beforeAll(async () => {
    source = await createDatabase(`${prefix}_src`);
    tr = await tempRepo();
    await setup?.(source.url);
  });
  afterAll(async () => {
    for (const t of targets) await t.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await tr?.dispose();
  });
  return {
    get source(): TestDatabase {
      if (!source) throw new Error('pitrFixture: the source is made in beforeAll');
      return source;
    },
    get repo(): Repository {
      if (!tr) throw new Error('pitrFixture: the repository is made in beforeAll');
      return tr.repo;
    },
    async target(): Promise<TestDatabase> {
      const t = await createDatabase(`${prefix}_dst`);
      targets.push(t);
      return t;
    },
  };
}
