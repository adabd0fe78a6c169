import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import pg from 'pg';
import mysql from 'mysql2/promise';
import {
  createMysqlDatabase,
  createPgDatabase,
  startOwnMariadb,
  startOwnPostgres,
  type TestDatabase,
} from '../harness/index.js';

const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');
const FIXTURE = join(process.cwd(), 'test', 'harness', 'fixtures', 'start-then-fail.ts');

/** Gone, or a zombie waiting for a reaper (PID 1 in some containers never reaps). */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function runFixture(
  mode: 'throw' | 'wait',
): Promise<{ pids: number[]; dirs: string[]; code: number | null }> {
  const child = spawn(TSX, [FIXTURE, mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CRMB_TEST_PG_URL: '' },
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const info = await new Promise<{ pids: number[]; dirs: string[] }>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve(JSON.parse(line) as { pids: number[]; dirs: string[] });
    });
    child.once('exit', () => reject(new Error(`fixture exited before reporting: ${err}`)));
  });
  if (mode === 'wait') child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (c) => resolve(c));
  });
  return { ...info, code };
}

describe('throwaway servers', () => {
  let pgDb: TestDatabase;
  let myDb: TestDatabase;
  beforeAll(async () => {
    pgDb = await createPgDatabase('harness');
    myDb = await createMysqlDatabase('harness');
  });
  afterAll(async () => {
    await pgDb?.drop();
    await myDb?.drop();
  });

  it('provides the shared server URLs', () => {
    expect(inject('pgUrl')).toMatch(/^postgres:\/\//);
    expect(inject('mysqlUrl')).toMatch(/^mysql:\/\//);
    expect(typeof inject('mongoUrl')).toBe('string');
  });

  it('PostgreSQL has logical decoding on', async () => {
    const c = new pg.Client({ connectionString: pgDb.url });
    await c.connect();
    try {
      const r = await c.query<{ wal_level: string }>('SHOW wal_level');
      expect(r.rows[0]?.wal_level).toBe('logical');
      const db = await c.query<{ d: string }>('SELECT current_database() AS d');
      expect(db.rows[0]?.d).toBe(pgDb.name);
    } finally {
      await c.end();
    }
  });

  it('MariaDB writes a full row-based binlog', async () => {
    const c = await mysql.createConnection({ uri: myDb.url });
    try {
      const [rows] = await c.query(
        'SELECT @@binlog_format AS f, @@binlog_row_image AS i, @@binlog_row_metadata AS m, @@log_bin AS b, DATABASE() AS d',
      );
      expect((rows as Record<string, unknown>[])[0]).toEqual({
        f: 'ROW',
        i: 'FULL',
        m: 'FULL',
        b: 1,
        d: myDb.name,
      });
    } finally {
      await c.end();
    }
  });

  it('restart keeps port and data', async () => {
    const server = await startOwnPostgres();
    try {
      const c1 = new pg.Client({ connectionString: server.url });
      await c1.connect();
      await c1.query('CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)');
      await c1.end();
      const pidBefore = server.pid;
      await server.restart();
      expect(server.pid).not.toBe(pidBefore);
      const c2 = new pg.Client({ connectionString: server.url });
      await c2.connect();
      expect((await c2.query('SELECT x FROM kept')).rows).toEqual([{ x: 42 }]);
      await c2.end();
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
  });

  it.each(['throw', 'wait'] as const)(
    'a child that starts servers and then fails (%s) leaves nothing behind',
    async (mode) => {
      const { pids, dirs, code } = await runFixture(mode);
      expect(code).not.toBe(0);
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(processGone(pid)).toBe(true);
      for (const dir of dirs) expect(existsSync(dir)).toBe(false);
    },
  );

  it('a missing binary is one sentence naming the Debian package', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'crmb-empty-'));
    try {
      await expect(startOwnPostgres({ binDir: empty })).rejects.toThrow(
        `PostgreSQL 15 server binaries not found at ${empty}/postgres; install the Debian package "postgresql-15" (apt-get install postgresql-15).`,
      );
      await expect(startOwnMariadb({ binDir: empty })).rejects.toThrow(
        `MariaDB server binary not found at ${empty}/mariadbd; install the Debian package "mariadb-server" (apt-get install mariadb-server).`,
      );
      const prev = process.env.CRMB_PG_BINDIR;
      process.env.CRMB_PG_BINDIR = empty;
      try {
        await expect(startOwnPostgres()).rejects.toThrow(/^PostgreSQL 15 server binaries not found at .*\.$/);
      } finally {
        if (prev === undefined) delete process.env.CRMB_PG_BINDIR;
        else process.env.CRMB_PG_BINDIR = prev;
      }
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
