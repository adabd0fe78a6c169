/**
 * MySQL/MariaDB change log -> apply round trip against the harness MariaDB: the binlog of one
 * database is streamed while a workload runs, and replayed into a copy of its starting state; the
 * two must match table by table. Resuming from a stored position yields exactly what came after
 * it, and a position whose binlog is gone is refused with one sentence naming the gap.
 */
import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlApplier } from '../../drivers/mysql/apply.js';
import { describeServer, dropMysqlChangeLog, openMysqlChangeLog } from '../../drivers/mysql/change-log.js';
import { decodeHeader, decodePayload } from '../../drivers/mysql/internal/payload.js';
import { comparePositions, parsePosition } from '../../drivers/mysql/internal/position.js';
import {
  isHeartbeat,
  type ChangeLog,
  type ChangeLogItem,
  type Transaction,
} from '../../src/driver/source-driver.js';
import { createMysqlDatabase, mysqlStartOwnServer, type TestDatabase } from '../harness/databases.js';
import { purgeBinlogs } from '../helpers/mysql.js';

const SCHEMA = `
CREATE TABLE contacts (
  id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), amount DECIMAL(20,6), f FLOAT, d DOUBLE,
  born DATE, seen DATETIME(6), ts TIMESTAMP(6) NULL, t TIME(2), e ENUM('a','b','c'), s SET('x','y','z'),
  b BIT(5), raw VARBINARY(10), doc JSON, big BLOB, u BIGINT UNSIGNED, l1 VARCHAR(10) CHARACTER SET latin1
);
CREATE TABLE notes (a INT, b VARCHAR(20));
CREATE TABLE side (id INT PRIMARY KEY, v INT) ENGINE=MyISAM;
`;

function params(url: string): mysql.ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: u.pathname.slice(1),
  };
}

async function run(url: string, sql: string): Promise<void> {
  const c = await mysql.createConnection({ uri: url, multipleStatements: true });
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function serverPosition(url: string): Promise<string> {
  const c = await mysql.createConnection({ uri: url });
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    return `${rows[0]?.File}:${rows[0]?.Position}`;
  } finally {
    await c.end();
  }
}

/** Per table, a hash of its rows in order, every value as the server prints it (floats widened). */
async function checksums(url: string, database: string): Promise<Record<string, string>> {
  const c = await mysql.createConnection({
    uri: url,
    typeCast: (field, next) => (field.type === 'NULL' ? next() : field.buffer()),
  });
  try {
    const [cols] = await c.query<mysql.RowDataPacket[]>(
      `SELECT TABLE_NAME t, COLUMN_NAME c, DATA_TYPE dt FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
      [database],
    );
    const tables = new Map<string, string[]>();
    for (const r of cols) {
      const t = String(r.t);
      const dt = String(r.dt);
      const expr = dt === 'float' || dt === 'double' ? `(\`${r.c}\` + 0e0)` : `\`${r.c}\``;
      tables.set(t, [...(tables.get(t) ?? []), expr]);
    }
    const out: Record<string, string> = {};
    for (const [t, exprs] of tables) {
      const [rows] = await c.query<mysql.RowDataPacket[]>(
        `SELECT ${exprs.join(', ')} FROM \`${database}\`.\`${t}\` ORDER BY ${exprs.map((_, i) => i + 1).join(', ')}`,
      );
      const h = createHash('sha256');
      for (const r of rows)
        h.update(
          JSON.stringify(
            Object.values(r).map((v) => (v === null ? null : Buffer.from(v as Buffer).toString('hex'))),
          ) + '\n',
        );
      out[t] = `${rows.length}:${h.digest('hex').slice(0, 16)}`;
    }
    return out;
  } finally {
    await c.end();
  }
}

/** Reads a change log in the background, and waits until it has reached a server position. */
function collect(log: ChangeLog): {
  items: ChangeLogItem[];
  reach(position: string, timeoutMs?: number): Promise<void>;
  done: Promise<void>;
} {
  const items: ChangeLogItem[] = [];
  let wake: () => void = () => {};
  let failure: unknown;
  const done = (async () => {
    try {
      for await (const item of log) {
        items.push(item);
        wake();
      }
    } catch (err) {
      failure = err;
      wake();
    }
  })();
  return {
    items,
    done,
    reach: (position, timeoutMs = 60_000) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the change log did not reach ${position}: ${items.length} items`)),
          timeoutMs,
        );
        const check = (): void => {
          if (failure) {
            clearTimeout(timer);
            reject(failure instanceof Error ? failure : new Error(String(failure)));
          } else if (items.some((i) => comparePositions(i.position, position) >= 0)) {
            clearTimeout(timer);
            resolve();
          }
        };
        wake = check;
        check();
      }),
  };
}

const txs = (items: ChangeLogItem[]): Transaction[] => items.filter((i): i is Transaction => !isHeartbeat(i));
const STREAM_OPTS = { heartbeatMs: 200, markerMs: 400 } as const;

describe('MySQL/MariaDB change log round trip', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  let other: TestDatabase;
  const name = `test/${Math.random().toString(36).slice(2)}`;
  let all: Transaction[] = [];
  let end = '';

  beforeAll(async () => {
    source = await createMysqlDatabase('mystream_src');
    target = await createMysqlDatabase('mystream_dst');
    other = await createMysqlDatabase('mystream_other');
    await run(source.url, SCHEMA);
    await run(target.url, SCHEMA);
    await run(other.url, 'CREATE TABLE x (id INT PRIMARY KEY)');
  });
  afterAll(async () => {
    await dropMysqlChangeLog(params(source.url), name).catch(() => undefined);
    await source?.drop();
    await target?.drop();
    await other?.drop();
  });

  it('streams a workload as transactions that replay into the same rows', async () => {
    const started = BigInt(Date.now() - 2000) * 1000n;
    // another test file on the shared server may have created the markers' table already
    const probe = await mysql.createConnection({ uri: source.url });
    const [had] = await probe.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'crmb' AND TABLE_NAME = 'heartbeat'",
    );
    await probe.end();
    const markerTableExisted = Number(had[0]?.n) > 0;
    const lines: string[] = [];
    const log = await openMysqlChangeLog(params(source.url), undefined, {
      ...STREAM_OPTS,
      sourceName: name,
      database: source.name,
      onStatus: (s) => s.message && lines.push(s.message),
    });
    const c = collect(log);
    try {
      await run(
        source.url,
        `INSERT INTO contacts (name, amount, f, d, born, seen, ts, t, e, s, b, raw, doc, big, u, l1)
         SELECT CONCAT('n', seq, ' é😀'), seq * 1234.567891, seq / 3, seq / 7, '0000-00-00', NOW(6), '2026-12-05 01:02:03.456789',
                '-12:34:56.78', 'b', 'x,z', b'10101', UNHEX('00FF27'), JSON_OBJECT('k', seq), REPEAT('ab', 5000), 18446744073709551615 - seq, 'café'
           FROM seq_1_to_50;
         INSERT INTO contacts (id, name, f, d) VALUES (1000, NULL, -0, -0);
         INSERT INTO notes VALUES (1, 'dup'), (1, 'dup'), (2, NULL), (3, 'x');
         INSERT INTO ${'`'}${other.name}${'`'}.x VALUES (1), (2)`,
      );
      await run(
        source.url,
        `UPDATE contacts SET name = CONCAT(name, '!'), amount = -amount WHERE id % 3 = 0`,
      );
      await run(source.url, `DELETE FROM contacts WHERE id IN (7, 8)`);
      await run(source.url, `DELETE FROM notes WHERE a = 1 LIMIT 1; UPDATE notes SET b = 'y' WHERE a = 2`);
      await run(source.url, `START TRANSACTION; INSERT INTO notes VALUES (99, 'rolled back'); ROLLBACK`);
      // a rollback that also wrote a non-transactional table: the MyISAM row stays
      await run(
        source.url,
        `START TRANSACTION; INSERT INTO side VALUES (1, 1); INSERT INTO notes VALUES (98, 'rolled back'); ROLLBACK`,
      );
      await run(source.url, 'FLUSH BINARY LOGS');
      await run(source.url, 'ALTER TABLE contacts ADD COLUMN extra INT NOT NULL DEFAULT 5');
      await run(target.url, 'ALTER TABLE notes ADD COLUMN scratch INT'); // differs on purpose, dropped below
      await run(target.url, 'ALTER TABLE notes DROP COLUMN scratch');
      await run(
        source.url,
        `INSERT INTO contacts (name, extra) VALUES ('after ddl', 7); UPDATE contacts SET extra = 9 WHERE id = 1`,
      );
      end = await serverPosition(source.url);
      await c.reach(end);
    } finally {
      await log.close();
      await c.done;
    }
    // the stream says what it creates on the source, and only that
    if (markerTableExisted) expect(lines.join('\n')).not.toMatch(/Created /);
    else expect(lines.join('\n')).toMatch(/Created (database crmb|table crmb\.heartbeat)/);
    all = txs(c.items);
    const data = all.filter((t) => !decodeHeader(t.payload).internal);
    const positions = all.map((t) => t.position);
    for (let i = 1; i < positions.length; i++)
      expect(comparePositions(positions[i - 1]!, positions[i]!)).toBeLessThan(0);
    // the rotation: transactions on both sides of FLUSH BINARY LOGS
    expect(new Set(data.map((t) => parsePosition(t.position).file)).size).toBe(2);
    for (const t of all) {
      expect(t.commitTime).toBeGreaterThanOrEqual(started);
      expect(t.commitTime % 1_000_000n).toBe(0n);
      expect(t.commitTime).toBeLessThanOrEqual(BigInt(Date.now()) * 1000n);
      expect(parsePosition(t.position).gtids).toMatch(/^\d+-\d+-\d+/);
    }
    const commitTimes = all.map((t) => t.commitTime);
    expect([...commitTimes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(commitTimes);
    // no other database, no rollback
    const text = data.map((t) => [...decodePayload(t.payload)]).flat();
    expect(JSON.stringify(text, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(
      'rolled back',
    );
    expect(data.flatMap((t) => t.tables ?? []).every((n) => n.startsWith(`${source.name}.`))).toBe(true);
    expect(data.map((t) => t.tables)).toContainEqual([`${source.name}.contacts`]);
    const ddl = text.filter((r) => r.kind === 'statement');
    expect(ddl.map((r) => r.kind === 'statement' && r.statement.sql)).toEqual([
      'ALTER TABLE contacts ADD COLUMN extra INT NOT NULL DEFAULT 5',
    ]);
    expect(data.reduce((n, t) => n + t.changes, 0)).toBe(51 + 4 + 16 + 2 + 2 + 1 + 2);

    const applier = await MysqlApplier.connect(params(target.url));
    try {
      for (const t of all) await applier.apply(t);
    } finally {
      await applier.close();
    }
    const want = await checksums(source.url, source.name);
    expect(Object.keys(want)).toEqual(['contacts', 'notes', 'side']);
    expect(await checksums(target.url, target.name)).toEqual(want);
  });

  it('resumes after a stored position with exactly the transactions after it', async () => {
    const data = all.filter((t) => !decodeHeader(t.payload).internal);
    const middle = data[3]!;
    const log = await openMysqlChangeLog(params(source.url), middle.position, {
      ...STREAM_OPTS,
      sourceName: name,
      database: source.name,
    });
    expect(log.from).toBe(middle.position);
    const c = collect(log);
    try {
      await c.reach(end);
    } finally {
      await log.close();
      await c.done;
    }
    const again = txs(c.items).filter(
      (t) => !decodeHeader(t.payload).internal && comparePositions(t.position, end) <= 0,
    );
    const expected = data.filter((t) => comparePositions(t.position, middle.position) > 0);
    expect(again.map((t) => t.position)).toEqual(expected.map((t) => t.position));
    expect(
      Buffer.concat(again.map((t) => t.payload)).equals(Buffer.concat(expected.map((t) => t.payload))),
    ).toBe(true);
  });

  it('cuts a large transaction into parts, commits idle markers, and carries on after the server drops the dump', async () => {
    const lines: string[] = [];
    const from = await serverPosition(source.url);
    const log = await openMysqlChangeLog(params(source.url), undefined, {
      ...STREAM_OPTS,
      sourceName: name,
      database: source.name,
      onStatus: (st) => st.message && lines.push(st.message),
    });
    const c = collect(log);
    try {
      await run(source.url, `INSERT INTO notes SELECT seq, CONCAT('bulk ', seq) FROM seq_1_to_25000`);
      await c.reach(await serverPosition(source.url));
      // idle: markers prove time coverage as internal 0-change transactions
      const idleFrom = c.items.length;
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => {
          if (txs(c.items.slice(idleFrom)).some((x) => decodeHeader(x.payload).internal && x.changes === 0)) {
            clearInterval(t);
            resolve();
          }
        }, 50);
        setTimeout(() => {
          clearInterval(t);
          reject(new Error('no idle marker within 10 s'));
        }, 10_000);
      });
      // the server ends the dump (a restart, a KILL): the log reconnects and loses nothing
      const killer = await mysql.createConnection({ uri: source.url });
      const [procs] = await killer.query<mysql.RowDataPacket[]>(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
      );
      for (const p of procs) await killer.query(`KILL ${Number(p.ID)}`).catch(() => undefined);
      await killer.end();
      await run(source.url, `INSERT INTO notes VALUES (-1, 'after kill')`);
      await c.reach(await serverPosition(source.url));
    } finally {
      await log.close();
      await c.done;
    }
    expect(comparePositions(log.from, from)).toBeGreaterThanOrEqual(0);
    const bulk = txs(c.items).filter(
      (t) => t.changes > 0 && t.position === txs(c.items).find((x) => x.changes > 1)?.position,
    );
    expect(bulk.map((t) => [t.changes, t.more ?? false])).toEqual([
      [10_000, true],
      [10_000, true],
      [5_000, false],
    ]);
    expect(lines.some((l) => /interrupted .*reconnecting/.test(l))).toBe(true);
    const after = txs(c.items).filter((t) => Buffer.from(t.payload).toString('utf8').includes('after kill'));
    expect(after).toHaveLength(1);
    const applier = await MysqlApplier.connect(params(target.url));
    try {
      for (const t of txs(c.items)) await applier.apply(t);
    } finally {
      await applier.close();
    }
    expect(await checksums(target.url, target.name)).toEqual(await checksums(source.url, source.name));
  });

  // on a MariaDB of its own: purging the shared server's binlogs would pull them from under the
  // other test files' streams (one stopped and started again would find its position gone)
  it('ends with the gap named when the server purges the binlog the stream reads', async () => {
    const server = await mysqlStartOwnServer();
    try {
      const gapSource = await createMysqlDatabase('mystream_gap', server.url);
      await run(gapSource.url, 'CREATE TABLE notes (a INT, b VARCHAR(20))');
      await run(gapSource.url, `INSERT INTO notes VALUES (-2, 'x')`);
      const at = await serverPosition(gapSource.url);
      await run(gapSource.url, `INSERT INTO notes VALUES (-3, 'y')`);
      const log = await openMysqlChangeLog(params(gapSource.url), at, {
        ...STREAM_OPTS,
        sourceName: name,
        database: gapSource.name,
      });
      // purged after the log was opened, before it reads: the dump itself is refused (error 1236)
      const { newest, kept } = await purgeBinlogs(gapSource.url);
      expect(kept).toEqual([newest]);
      const c = collect(log);
      const esc = (x: string): string => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      try {
        await expect(c.reach('binlog.999999:4', 30_000)).rejects.toThrow(
          new RegExp(
            `^The binlog position the log continues from \\(${esc(at)}(?:#[^)]*)?\\) is no longer on \\S+: its oldest binlog is ${esc(newest)}, so the changes from ${esc(at)} to ${esc(newest)}:4 are lost to the log; started again, the stream continues from ${esc(newest)}:4 with the gap recorded, and restores into it are refused; keep binlogs longer`,
          ),
        );
      } finally {
        await log.close();
        await c.done;
      }
    } finally {
      await server.stop();
    }
  });

  it('continues a position whose binlog the server purged from its oldest binlog, naming the gap', async () => {
    const gone = 'binlog.000000:1234#0-1-1';
    const messages: string[] = [];
    const log = await openMysqlChangeLog(params(source.url), gone, {
      ...STREAM_OPTS,
      sourceName: name,
      database: source.name,
      onStatus: (s) => {
        if (s.message) messages.push(s.message);
      },
    });
    try {
      const c0 = await mysql.createConnection({ uri: source.url });
      const [logs] = await c0.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
      await c0.end();
      const oldest = String(logs[0]?.Log_name);
      expect(log.from).toBe(`${oldest}:4`);
      expect(messages.filter((m) => m.includes('no longer has'))).toEqual([
        `${describeServer(params(source.url))} no longer has the binlog the log continues from (${gone}): the changes between it and ${oldest}:4, where the log continues, are lost to the log; restores into that gap will be refused (keep binlogs longer, binlog_expire_logs_seconds, than the stream may be stopped).`,
      ]);
    } finally {
      await log.close();
    }
  });

  it('refuses a position that the binlog history of the server does not hold (reset, or another server)', async () => {
    const c0 = await mysql.createConnection({ uri: source.url });
    const [st] = await c0.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    await c0.end();
    const newest = String(st[0]?.File);
    for (const at of [`${newest}:4000000000`, 'binlog.999999:4', 'other-bin.000000:4']) {
      await expect(
        openMysqlChangeLog(params(source.url), at, {
          ...STREAM_OPTS,
          sourceName: name,
          database: source.name,
        }),
      ).rejects.toThrow(
        new RegExp(
          `^The binlog position the log continues from \\(${at.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) is not in the binlog history of mysql://\\S+ \\(it has binlog\\.\\d+ to binlog\\.\\d+\\): its binlog was reset, or this is another server, and its positions do not follow the stored ones; take a new snapshot and stream it under a new --name\\.$`,
        ),
      );
    }
  });

  it('drops what it created on the source', async () => {
    const lines = await dropMysqlChangeLog(params(source.url), name);
    expect(lines.join(' ')).toMatch(/Deleted the idle-marker row/);
    await expect(dropMysqlChangeLog(params(source.url), name)).resolves.toBeDefined();
  });
});
