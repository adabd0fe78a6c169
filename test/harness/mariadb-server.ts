/**
 * Throwaway MariaDB 10.11 server for tests, demos and benchmarks: row-based binlog with
 * full row images and metadata, GTID, root without password on 127.0.0.1, durability off.
 */
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { ServerProcess, runningServer } from './server-process.js';
import { registerForCleanup } from './cleanup.js';
import { externalServer, type StartOptions, type ThrowawayServer } from './server.js';
import { freePort, requireBinary, runToCompletion, spawnServer, waitReady } from './util.js';

const DEFAULT_BINDIR = '/usr/sbin';
const INSTALL_DB_DIRS = ['/usr/bin', '/usr/sbin'];
const PACKAGE = 'mariadb-server';

const BASE_SETTINGS: Record<string, string> = {
  'bind-address': '127.0.0.1',
  'skip-name-resolve': 'ON',
  'log-bin': 'binlog',
  'binlog-format': 'ROW',
  'binlog-row-image': 'FULL',
  'binlog-row-metadata': 'FULL',
  'server-id': '1',
  'gtid-strict-mode': 'ON',
  'log-slave-updates': 'ON',
  'sync-binlog': '0',
  'innodb-flush-log-at-trx-commit': '2',
  'innodb-buffer-pool-size': '128M',
  'innodb-log-file-size': '32M',
  'character-set-server': 'utf8mb4',
  'collation-server': 'utf8mb4_unicode_ci',
  'default-time-zone': '+00:00',
  'max-connections': '300',
  'max-allowed-packet': '64M',
};

export function mariadbBinDir(opts?: StartOptions): string {
  return opts?.binDir ?? process.env.CRMB_MARIADB_BINDIR ?? DEFAULT_BINDIR;
}

/** Starts a MariaDB server (or adopts `CRMB_TEST_MYSQL_URL` / `opts.externalUrl`). */
export async function startMariadb(opts?: StartOptions): Promise<ThrowawayServer> {
  const external = opts?.externalUrl ?? process.env.CRMB_TEST_MYSQL_URL;
  if (external) return externalServer(external);
  return startOwnMariadb(opts);
}

/** Always starts a fresh server, ignoring `CRMB_TEST_MYSQL_URL`. */
export async function startOwnMariadb(opts?: StartOptions): Promise<ThrowawayServer> {
  const binDir = mariadbBinDir(opts);
  const mariadbd = join(binDir, 'mariadbd');
  requireBinary(mariadbd, 'MariaDB server binary', PACKAGE);
  // the install script lives next to mariadbd in a custom folder, in /usr/bin on Debian
  const installDirs = opts?.binDir || process.env.CRMB_MARIADB_BINDIR ? [binDir] : INSTALL_DB_DIRS;
  const installDb =
    installDirs.map((d) => join(d, 'mariadb-install-db')).find(isExecutable) ??
    join(binDir, 'mariadb-install-db');
  requireBinary(installDb, 'MariaDB install script', PACKAGE);
  const timeoutMs = opts?.timeoutMs ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'crmb-mariadb-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const asRoot = process.getuid?.() === 0;
  // SIGTERM = clean shutdown, like mysqladmin shutdown
  const proc = new ServerProcess('SIGTERM', 20_000);
  const unregister = registerForCleanup(() => proc.pid, dir);
  try {
    chmodSync(dir, 0o755);
    writeFileSync(logFile, '');
    await runToCompletion(
      installDb,
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--innodb-log-file-size=32M',
        ...(asRoot ? ['--user=root'] : []),
      ],
      logFile,
      undefined,
    );
    // root@127.0.0.1 without password for TCP clients, whatever the install script created
    const initFile = join(dir, 'init.sql');
    writeFileSync(
      initFile,
      "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\nGRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\nCREATE DATABASE IF NOT EXISTS test;\n",
    );
    const port = await freePort();
    const settings = { ...BASE_SETTINGS, ...opts?.settings };
    const args = [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--port=${port}`,
      `--socket=${join(dir, 'mysqld.sock')}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--tmpdir=${dir}`,
      `--init-file=${initFile}`,
      ...(asRoot ? ['--user=root'] : []),
      ...Object.entries(settings).map(([k, v]) => `--${k}=${v}`),
    ];
    const url = `mysql://root@127.0.0.1:${port}/test`;
    const launch = (): Promise<void> =>
      proc.launch(
        () => spawnServer(mariadbd, args, logFile, undefined),
        (c) => waitReady('MariaDB', c, logFile, () => probe(url), timeoutMs),
      );
    await launch();
    return runningServer({ url, port, dir, proc, launch, unregister });
  } catch (err) {
    proc.abandon(dir, unregister);
    throw err;
  }
}

function isExecutable(path: string): boolean {
  try {
    requireBinary(path, '', '');
    return true;
  } catch {
    return false;
  }
}

async function probe(url: string): Promise<void> {
  const conn = await mysql.createConnection({ uri: url, connectTimeout: 2_000 });
  try {
    await conn.query('SELECT 1');
  } finally {
    await conn.end().catch(() => undefined);
  }
}
