/**
 * Throwaway PostgreSQL 15 server for tests, demos and benchmarks: initdb into a temp
 * folder, logical decoding on, trust auth on 127.0.0.1 (or a password check for other roles than
 * `postgres`: `hostAuth`), durability off for speed.
 */
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ServerProcess, runningServer } from './server-process.js';
import { registerForCleanup } from './cleanup.js';
import { externalServer, type StartOptions, type ThrowawayServer } from './server.js';
import {
  chownTree,
  freePort,
  requireBinary,
  runAs,
  runToCompletion,
  spawnServer,
  waitReady,
} from './util.js';

const DEFAULT_BINDIR = '/usr/lib/postgresql/15/bin';

/** Password checks a test may ask for on TCP connections (`trust` asks for none). */
export type PgHostAuth = 'trust' | 'scram-sha-256' | 'md5';

export interface PgStartOptions extends StartOptions {
  /**
   * How TCP connections of roles other than `postgres` authenticate (default `trust`). The
   * `postgres` superuser, which the harness and tests connect as, is always trusted.
   */
  readonly hostAuth?: PgHostAuth;
}

function hba(hostAuth: PgHostAuth): string {
  const superuser =
    hostAuth === 'trust'
      ? ''
      : `host all postgres 127.0.0.1/32 trust
host replication postgres 127.0.0.1/32 trust
host all postgres ::1/128 trust
host replication postgres ::1/128 trust
`;
  return `local all all trust
local replication all trust
${superuser}host all all 127.0.0.1/32 ${hostAuth}
host replication all 127.0.0.1/32 ${hostAuth}
host all all ::1/128 ${hostAuth}
host replication all ::1/128 ${hostAuth}
`;
}

const BASE_SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  wal_level: 'logical',
  max_replication_slots: '20',
  max_wal_senders: '20',
  max_connections: '200',
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: '128MB',
  log_min_messages: 'warning',
  timezone: 'UTC',
};

export function pgBinDir(opts?: StartOptions): string {
  return opts?.binDir ?? process.env.CRMB_PG_BINDIR ?? DEFAULT_BINDIR;
}

/** Starts a PostgreSQL server (or adopts `CRMB_TEST_PG_URL` / `opts.externalUrl`). */
export async function startPostgres(opts?: StartOptions): Promise<ThrowawayServer> {
  const external = opts?.externalUrl ?? process.env.CRMB_TEST_PG_URL;
  if (external) return externalServer(external);
  return startOwnPostgres(opts);
}

/** Always starts a fresh server, ignoring `CRMB_TEST_PG_URL` (for tests that restart or kill it). */
export async function startOwnPostgres(opts?: PgStartOptions): Promise<ThrowawayServer> {
  const binDir = pgBinDir(opts);
  requireBinary(join(binDir, 'postgres'), 'PostgreSQL 15 server binaries', 'postgresql-15');
  requireBinary(join(binDir, 'initdb'), 'PostgreSQL 15 server binaries', 'postgresql-15');
  const timeoutMs = opts?.timeoutMs ?? 60_000;
  const ids = runAs('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'crmb-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  // SIGINT to the postmaster = fast shutdown: a clean checkpoint, so a restart needs no recovery
  const proc = new ServerProcess('SIGINT', 10_000);
  const unregister = registerForCleanup(() => proc.pid, dir);
  try {
    // the postgres user must be able to traverse the folder and write the socket there
    chmodSync(dir, 0o755);
    writeFileSync(logFile, '');
    chownTree(dir, ids);
    await runToCompletion(
      join(binDir, 'initdb'),
      ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
      logFile,
      ids,
    );
    writeFileSync(join(dataDir, 'pg_hba.conf'), hba(opts?.hostAuth ?? 'trust'));
    chownTree(join(dataDir, 'pg_hba.conf'), ids);
    const port = await freePort();
    const settings = { ...BASE_SETTINGS, ...opts?.settings };
    const args = ['-D', dataDir, '-p', String(port), '-k', dir];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

    const launch = (): Promise<void> =>
      proc.launch(
        () => spawnServer(join(binDir, 'postgres'), args, logFile, ids),
        (c) => waitReady('PostgreSQL', c, logFile, () => probe(url), timeoutMs),
      );
    await launch();
    return runningServer({ url, port, dir, proc, launch, unregister });
  } catch (err) {
    proc.abandon(dir, unregister);
    throw err;
  }
}

async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
