/**
 * Safety of the PostgreSQL stream for the repository and for the source: a slot that went
 * missing must show as a gap (never a silently incomplete log), keyless tables must never make
 * the application's UPDATE/DELETE fail, a synchronous_standby_names that would make every commit
 * wait for the stream is refused by doctor, and a silent network drop ends the session.
 */
import net from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openPgChangeLog, changeLogNames } from '../../drivers/postgres/change-log.js';
import { parsePgUrl } from '../../drivers/postgres/internal/connection.js';
import { driver } from '../../drivers/postgres/index.js';
import { encodePosition, lsnToBigInt } from '../../drivers/postgres/internal/position.js';
import { isHeartbeat } from '../../src/driver/source-driver.js';
import { planRestore } from '../../src/restore/plan.js';
import { RestoreRefusedError, SourceError } from '../../src/util/errors.js';
import { createPgDatabase, pgStartOwnServer, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import { loggedStream } from '../helpers/logged-stream.js';
import { pgExec, serverNowMicros, takeSnapshot, tempRepo } from '../helpers/pitr.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function db(prefix: string): Promise<TestDatabase> {
  const d = await createPgDatabase(prefix);
  cleanups.push(() => d.drop());
  return d;
}

/** Slots are per server: a stream name unique to the database. */
const nameOf = (url: string): string => new URL(url).pathname.slice(1);

/** A TCP proxy whose current connections can be frozen: nothing more is forwarded, nothing is closed. */
async function freezableProxy(host: string, port: number) {
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(port, host);
    client.pipe(upstream);
    upstream.pipe(client);
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) s.on('error', kill).on('close', kill);
    pairs.push([client, upstream]);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const frozen: Array<[net.Socket, net.Socket]> = [];
  return {
    port: (server.address() as net.AddressInfo).port,
    /** A silent network drop of every connection open now; new ones still work. */
    freeze(): void {
      for (const [client, upstream] of pairs.splice(0)) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
        frozen.push([client, upstream]);
      }
    },
    async close(): Promise<void> {
      for (const [a, b] of [...pairs, ...frozen]) {
        a.destroy();
        b.destroy();
      }
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * A change log of a new database (table `t`) read through a freezable proxy; the server's side
 * of a dropped connection holds the slot until wal_sender_timeout, so that is 2 s.
 */
async function streamThroughProxy(dbName: string, tuning: { receiveTimeoutMs?: number; adminDeadlineMs?: number }) {
  const source = await db(dbName);
  const name = nameOf(source.url);
  await pgExec(source.url, 'CREATE TABLE t (id int PRIMARY KEY)');
  await pgExec(source.url, `ALTER DATABASE ${name} SET wal_sender_timeout = '2s'`);
  const u = new URL(source.url);
  const proxy = await freezableProxy(u.hostname, Number(u.port || 5432));
  cleanups.push(() => proxy.close());
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  const abort = new AbortController();
  const events: string[] = [];
  const messages: string[] = [];
  const log = await openPgChangeLog(
    parsePgUrl(u.toString()),
    name,
    undefined,
    {
      signal: abort.signal,
      heartbeatMs: 200,
      onStatus: (st) => {
        if (st.event) events.push(st.event);
        if (st.message) messages.push(st.message);
      },
    },
    tuning,
  );
  let rows = 0;
  const reading = (async () => {
    for await (const item of log) if (!isHeartbeat(item)) rows += item.changes;
  })();
  const waitRows = async (n: number, ms: number): Promise<void> => {
    await waitFor(() => rows >= n, `${n} rows from the change log`, ms);
  };
  return { source, proxy, abort, events, messages, log, reading, waitRows };
}

describe('PostgreSQL stream safety', () => {
  it('a dropped slot shows as a gap with its boundaries, and the stream warns about it', async () => {
    const source = await db('gap_src');
    const name = nameOf(source.url);
    const tr = await tempRepo();
    cleanups.push(() => tr.dispose());
    await pgExec(source.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');

    const first = loggedStream(tr.repo, driver, source.url, name);
    await first.started;
    await takeSnapshot(tr.repo, driver, source.url, name);
    await pgExec(source.url, `INSERT INTO t SELECT g, 'before' FROM generate_series(1, 10) g`);
    const before = await serverNowMicros(source.url);
    await first.waitCovered(before);
    await first.stop();
    const lastStored = (await tr.repo.listSegments(name))
      .map((s) => s.lastPosition)
      .sort()
      .at(-1)!;

    const { slot } = changeLogNames(name);
    // the walsender releases the slot a moment after the stream closes it
    await waitFor(
      async () =>
        !(await pgExec(source.url, `SELECT active FROM pg_replication_slots WHERE slot_name = $1`, [slot]))
          .rows[0]?.active,
      'the walsender to release the slot',
      30_000,
      100,
    );
    await pgExec(source.url, `SELECT pg_drop_replication_slot($1)`, [slot]);
    await pgExec(source.url, `INSERT INTO t SELECT g, 'lost' FROM generate_series(11, 20) g`);
    const inGap = await serverNowMicros(source.url);

    const second = loggedStream(tr.repo, driver, source.url, name);
    await second.started;
    const missing = second.log.events.find((e) => e.level === 'warn' && /was missing/.test(e.message));
    expect(missing?.message).toContain(`changes between position ${lastStored} and `);
    await pgExec(source.url, `INSERT INTO t SELECT g, 'after' FROM generate_series(21, 30) g`);
    const after = await serverNowMicros(source.url);
    await second.waitCovered(after);
    await second.stop();

    const segments = await tr.repo.listSegments(name);
    const resumed = segments.find((s) => s.fromPosition > lastStored)!;
    expect(resumed).toBeDefined();
    expect(missing?.message).toContain(`and ${resumed.fromPosition} are not in the log`);
    const snapshots = await tr.repo.listSnapshots({ source: name });
    expect(() =>
      planRestore(snapshots, segments, { kind: 'time', micros: before }, driver.comparePositions),
    ).not.toThrow();
    let refusal: unknown;
    try {
      planRestore(snapshots, segments, { kind: 'time', micros: inGap }, driver.comparePositions);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(RestoreRefusedError);
    expect((refusal as Error).message).toContain(`gap between position ${lastStored}`);
    expect((refusal as Error).message).toContain(`and position ${resumed.fromPosition}`);
  });

  it('refuses when the slot is missing and the server is behind what the repository holds', async () => {
    const source = await db('behind_src');
    const name = nameOf(source.url);
    const r = await pgExec(source.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    const ahead = encodePosition(lsnToBigInt(r.rows[0].lsn as string) + (1n << 36n));
    const err = await openPgChangeLog(parsePgUrl(source.url), name, ahead, {}).then(
      async (log) => {
        await log.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toMatch(/is behind what the repository holds/);
    const { slot } = changeLogNames(name);
    const left = await pgExec(source.url, `SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [slot]);
    expect(left.rowCount).toBe(0);
  });
  it('a keyless table locked at first start: the stream refuses, the application never fails', async () => {
    const source = await db('keyless_src');
    const name = nameOf(source.url);
    await pgExec(
      source.url,
      `CREATE TABLE loose (a int, b text);
       INSERT INTO loose SELECT g, 'x' FROM generate_series(1, 20) g;
       CREATE TABLE lost_idx (a int NOT NULL, b text);
       CREATE UNIQUE INDEX lost_idx_a ON lost_idx (a);
       ALTER TABLE lost_idx REPLICA IDENTITY USING INDEX lost_idx_a;
       DROP INDEX lost_idx_a;
       INSERT INTO lost_idx SELECT g, 'x' FROM generate_series(1, 20) g;`,
    );
    const holder = new pg.Client({ connectionString: source.url });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query(`BEGIN; UPDATE loose SET b = 'held' WHERE a = 1`);

    // the application keeps updating and deleting in both tables throughout
    const app = new pg.Client({ connectionString: source.url });
    await app.connect();
    cleanups.push(() => app.end());
    const appErrors: string[] = [];
    let appRuns = 0;
    let appStop = false;
    const appLoop = (async () => {
      for (let i = 0; !appStop; i++) {
        for (const sql of [
          `UPDATE loose SET b = 'app' WHERE a = ${2 + (i % 10)}`,
          `DELETE FROM loose WHERE a = ${1000 + i}`,
          `UPDATE lost_idx SET b = 'app' WHERE a = ${1 + (i % 10)}`,
          `DELETE FROM lost_idx WHERE a = ${1000 + i}`,
        ]) {
          await app.query(sql).catch((e: Error) => appErrors.push(e.message));
        }
        appRuns++;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    const target = parsePgUrl(source.url);
    const refused = await openPgChangeLog(target, name, undefined, {}).then(
      async (log) => {
        await log.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(SourceError);
    expect((refused as Error).message).toMatch(
      /^Table public\.loose has no primary key .*ALTER TABLE public\.loose REPLICA IDENTITY FULL/,
    );
    const pub = await pgExec(source.url, `SELECT 1 FROM pg_publication WHERE pubname = $1`, [
      changeLogNames(name).publication,
    ]);
    expect(pub.rowCount).toBe(0);
    expect(appErrors).toEqual([]);

    await holder.query('COMMIT');
    const abort = new AbortController();
    const log = await openPgChangeLog(target, name, undefined, { signal: abort.signal, heartbeatMs: 200 });
    const tables = new Set<string>();
    const reading = (async () => {
      for await (const item of log) if (!isHeartbeat(item)) for (const t of item.tables ?? []) tables.add(t);
    })();
    cleanups.push(async () => {
      abort.abort();
      await reading.catch(() => {});
      await log.close();
    });
    const idents = await pgExec(
      source.url,
      `SELECT relname, relreplident FROM pg_class WHERE relname IN ('loose', 'lost_idx') ORDER BY 1`,
    );
    expect(idents.rows).toEqual([
      { relname: 'loose', relreplident: 'f' },
      { relname: 'lost_idx', relreplident: 'f' },
    ]);
    const runsAtStart = appRuns;
    for (let i = 0; i < 300 && (appRuns < runsAtStart + 5 || tables.size < 2); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...tables].sort()).toEqual(['public.loose', 'public.lost_idx']);

    // DDL capture fires for sessions with session_replication_role = replica too
    const triggers = await pgExec(
      source.url,
      `SELECT evtname, evtenabled FROM pg_event_trigger WHERE evtname LIKE 'crmb\\_%' ORDER BY 1`,
    );
    expect(triggers.rows.map((r) => r.evtenabled)).toEqual(['A', 'A', 'A']);
    await pgExec(
      source.url,
      `SET session_replication_role = replica; CREATE TABLE replica_made (a int); RESET session_replication_role`,
    );
    await pgExec(
      source.url,
      `INSERT INTO replica_made VALUES (1); UPDATE replica_made SET a = 2; DELETE FROM replica_made`,
    );

    appStop = true;
    await appLoop;
    expect(appErrors).toEqual([]);
  });
  it('doctor reports synchronous_standby_names matching the stream as an error', async () => {
    // a server of its own: '*' would make every commit on a shared one wait for a standby
    const server = await pgStartOwnServer();
    cleanups.push(() => server.stop());
    const source = await createPgDatabase('syncrep', server.url);
    const setSync = async (value: string | undefined): Promise<void> => {
      await pgExec(
        server.url,
        value === undefined
          ? `ALTER SYSTEM RESET synchronous_standby_names`
          : `ALTER SYSTEM SET synchronous_standby_names = '${value.replace(/'/g, "''")}'`,
      );
      await pgExec(server.url, 'SELECT pg_reload_conf()');
      for (let i = 0; i < 300; i++) {
        const r = await pgExec(source.url, `SELECT current_setting('synchronous_standby_names') AS v`);
        if (r.rows[0].v === (value ?? '')) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`synchronous_standby_names never became ${value}`);
    };
    const findings = async () => {
      const src = await driver.openSource(source.url, { name: 'syncrep' });
      try {
        return (await src.preflight('stream')).filter((f) => f.id === 'pg.synchronous_standby_names');
      } finally {
        await src.close();
      }
    };
    try {
      await setSync('*');
      const star = await findings();
      expect(star).toHaveLength(1);
      expect(star[0]!.severity).toBe('error');
      expect(star[0]!.message).toMatch(
        /^synchronous_standby_names \('\*'\) matches the stream's application_name "crm-backup", so every commit .* wait/,
      );
      expect(star[0]!.fix).toContain('pg_reload_conf()');
      await setSync('FIRST 1 (standby1, "crm-backup")');
      expect(await findings()).toHaveLength(1);
      await setSync('FIRST 1 (standby1, standby2)');
      expect(await findings()).toEqual([]);
    } finally {
      await setSync(undefined);
    }
    expect(await findings()).toEqual([]);
    await source.drop();
  });
  it('a silent network drop ends the replication session after the receive timeout, and it reconnects', async () => {
    const s = await streamThroughProxy('silent_src', { receiveTimeoutMs: 1500 });
    try {
      await pgExec(s.source.url, 'INSERT INTO t VALUES (1)');
      await s.waitRows(1, 30_000);
      s.proxy.freeze();
      await pgExec(s.source.url, 'INSERT INTO t VALUES (2)');
      // 1.5 s of silence, then a new session through the proxy (whose new connections still work)
      await s.waitRows(2, 30_000);
      expect(s.messages.find((m) => / interrupted \(/.test(m))).toMatch(
        /interrupted \(nothing received from the server for 1\.5 s, not even a keepalive\); reconnecting/,
      );
      expect(s.events.filter((e) => e === 'connected').length).toBeGreaterThanOrEqual(2);
    } finally {
      s.abort.abort();
      await s.proxy.close(); // the admin connection was frozen too
      await s.reading.catch(() => {});
      await s.log.close();
    }
  });

  it('a silent network drop does not make the stream hang at shutdown: the admin work gives up in time', async () => {
    const s = await streamThroughProxy('silent_stop_src', { receiveTimeoutMs: 60_000, adminDeadlineMs: 1000 });
    await pgExec(s.source.url, 'INSERT INTO t VALUES (1)');
    await s.waitRows(1, 30_000);
    // every connection open now goes silent, the admin one included, and stays so
    s.proxy.freeze();
    const started = Date.now();
    s.abort.abort();
    await s.reading.catch(() => {});
    await s.log.close();
    // the final sequence record and the last acknowledgement each give up after 1 s; without
    // that it would wait for the frozen connection for ever (the bound leaves room for a busy machine)
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(s.messages.join('\n')).toMatch(
      /Recording sequence values at shutdown failed: no answer from the server within 1 s; the connection was given up/,
    );
    await s.proxy.close();
  });
});
