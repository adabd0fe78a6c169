/**
 * Building blocks for end-to-end tests: a repository in a temp folder, a stream job running in
 * this process, the server's clock, and checksums. Real servers only (the harness's): PostgreSQL
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
import type { Repository } from '../../src/repository/repository-api.js';
import { LocalBackend } from '../../src/storage/index.js';
import type { StorageBackend } from '../../src/storage/storage-backend.js';
import { memoryLogger, type Logger } from '../../src/util/log.js';
import { Secret } from '../../src/util/redact.js';
import { dialectOfUrl } from '../../scripts/crm/connect.js';
import { createMysqlDatabase, createPgDatabase, type TestDatabase } from '../harness/index.js';
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
 */
export async function afterCommitUnit(url: string, driver: DriverModule, at: bigint): Promise<void> {
  const unit = RESOLUTION_MICROS[driver.transactions?.commitTimeResolution ?? 'microsecond'];
  const next = (at / unit + 1n) * unit;
  while (unit > 1n && (await serverNowMicros(url)) < next) await new Promise((r) => setTimeout(r, 20));
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
