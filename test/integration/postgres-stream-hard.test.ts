/**
 * The hard cases of the PostgreSQL change log: DDL mid-stream, partitions, sequences, restarts of
 * the stream and of the server, a 1-million-row transaction, and dropping the change log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePgUrl } from '../../drivers/postgres/internal/connection.js';
import { changeLogNames, dropPgChangeLog, openPgChangeLog } from '../../drivers/postgres/change-log.js';
import { comparePositions } from '../../drivers/postgres/internal/position.js';
import { isHeartbeat, type Position } from '../../src/driver/source-driver.js';
import { createPgDatabase, pgStartOwnServer, type TestDatabase } from '../harness/index.js';
import type { ThrowawayServer } from '../harness/server.js';
import {
  checksums,
  createPair,
  currentPosition,
  query,
  startPump,
  streamName,
  type Pair,
} from './postgres-stream.helpers.js';

describe('PostgreSQL change log: DDL, partitions, sequences', () => {
  let pair: Pair;
  const SCHEMA = `
    CREATE TABLE accounts (id serial PRIMARY KEY, name text);
    CREATE TABLE events (id bigint, at date NOT NULL, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');`;
  beforeAll(async () => {
    pair = await createPair('pghard', SCHEMA);
  });
  afterAll(async () => {
    await dropPgChangeLog(parsePgUrl(pair.source.url), streamName(pair.source.url)).catch(() => {});
    await pair.drop();
  });

  it('replays ADD/DROP COLUMN, CREATE TABLE (no key), CREATE TABLE AS, TRUNCATE and partitions mid-stream', async () => {
    const sequences: Array<[string, string]> = [];
    const pump = await startPump(pair.source.url, pair.target.url, {
      applyOpts: { onSequence: (n, v) => sequences.push([n, v]) },
    });
    try {
      const src = pair.source.url;
      await query(src, `INSERT INTO accounts (name) SELECT 'a' || g FROM generate_series(1, 20) g`);
      await query(src, `ALTER TABLE accounts ADD COLUMN email text DEFAULT 'none'`);
      await query(src, `UPDATE accounts SET email = name || '@x' WHERE id < 5`);
      await query(src, `ALTER TABLE accounts DROP COLUMN name`);
      await query(src, `INSERT INTO accounts (email) VALUES ('late@x')`);
      // a table without a key, created while streaming: the trigger gives it REPLICA IDENTITY FULL
      await query(
        src,
        `CREATE TABLE log_lines (line text, n int); INSERT INTO log_lines VALUES ('a', 1), ('a', 1), ('b', 2)`,
      );
      await query(src, `UPDATE log_lines SET n = 5 WHERE line = 'b'`);
      await query(
        src,
        `DELETE FROM log_lines WHERE ctid = (SELECT ctid FROM log_lines WHERE line = 'a' LIMIT 1)`,
      );
      await query(src, `CREATE TABLE copied AS SELECT id, email FROM accounts WHERE id < 10`);
      await query(src, `CREATE TEMP TABLE scratch (x int); DROP TABLE scratch`);
      await query(src, `BEGIN; ALTER TABLE accounts ADD COLUMN gone int; ROLLBACK`);
      // partitions: routed inserts, a row moving between partitions, truncating one partition
      await query(
        src,
        `INSERT INTO events SELECT g, date '2024-06-01' + g, 'e' || g FROM generate_series(1, 300) g`,
      );
      await query(src, `UPDATE events SET at = date '2025-03-01' WHERE id = 3`);
      await query(src, `TRUNCATE events_2024`);
      await query(
        src,
        `CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
      );
      await query(src, `INSERT INTO events VALUES (1000, '2026-02-02', 'new partition')`);
      await query(src, `TRUNCATE accounts RESTART IDENTITY`);
      await query(src, `INSERT INTO accounts (email) VALUES ('after truncate')`);
      await query(src, `SELECT pg_logical_emit_message(false, 'other.app', 'not ours')`);
      await pump.reach(await currentPosition(src));
      const ident = await query(src, `SELECT relreplident FROM pg_class WHERE relname = 'log_lines'`);
      expect(ident.rows[0].relreplident).toBe('f');
      const [s, t] = [await checksums(src), await checksums(pair.target.url)];
      expect(Object.keys(s)).toContain('public.log_lines');
      expect(Object.keys(s)).toContain('public.events_2026');
      expect(t).toEqual(s);
      const cols = await query(
        pair.target.url,
        `SELECT string_agg(attname, ',' ORDER BY attnum) AS c FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0 AND NOT attisdropped`,
      );
      expect(cols.rows[0].c).toBe('id,email');
    } finally {
      await pump.stop();
    }
    // the final housekeeping at close records sequence values; they arrive with the next stream
    const again = await startPump(pair.source.url, pair.target.url, {
      applyOpts: { onSequence: (n, v) => sequences.push([n, v]) },
    });
    try {
      await again.reach(await currentPosition(pair.source.url));
    } finally {
      await again.stop();
    }
    expect(sequences).toContainEqual(['public.accounts_id_seq', '1']);
  });
});

describe('PostgreSQL change log: restarts', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await createPair('pgrestart', `CREATE TABLE t (id int PRIMARY KEY, v text)`);
  });
  afterAll(async () => {
    await dropPgChangeLog(parsePgUrl(pair.source.url), streamName(pair.source.url)).catch(() => {});
    await pair.drop();
  });

  it('continues after close from the acknowledged position: nothing lost, no duplicates', async () => {
    const src = pair.source.url;
    const seen: Position[] = [];
    // first run acknowledges nothing past the 5th transaction
    let acked: Position | undefined;
    const first = await startPump(src, undefined, {
      ack: false,
      onTransaction: (tx) => {
        seen.push(tx.position);
        if (seen.length === 5) acked = tx.position;
      },
    });
    for (let i = 1; i <= 10; i++) await query(src, `INSERT INTO t VALUES (${i}, 'x')`);
    await first.reach(await currentPosition(src));
    await first.log.acknowledge(acked as Position);
    await first.stop();
    expect(seen).toHaveLength(10);
    // reopened from the acknowledged position, the server resends 6..10 and they are yielded again
    const second = await startPump(src, undefined, {
      from: acked,
      onTransaction: (tx) => seen.push(tx.position),
    });
    for (let i = 11; i <= 12; i++) await query(src, `INSERT INTO t VALUES (${i}, 'x')`);
    await second.reach(await currentPosition(src));
    expect(second.log.from).toBe(acked);
    await second.stop();
    expect(seen.slice(10)).toEqual([...seen.slice(5, 10), ...seen.slice(10, 17).slice(5)]);
    expect(seen).toHaveLength(17);
    // reopened from the last position: only new transactions
    const last = seen.at(-1) as Position;
    const third = await startPump(src, undefined, {
      from: last,
      onTransaction: (tx) => seen.push(tx.position),
    });
    await query(src, `INSERT INTO t VALUES (13, 'x')`);
    await third.reach(await currentPosition(src));
    await third.stop();
    expect(seen).toHaveLength(18);
    expect(comparePositions(seen[17] as Position, last)).toBe(1);
  });

  it('refuses a second stream on the same slot, and drops slot and publication', async () => {
    const target = parsePgUrl(pair.source.url);
    const busy = `busy_${streamName(pair.source.url)}`;
    const pump = await startPump(pair.source.url, undefined, { name: busy });
    await pump.reach(await currentPosition(pair.source.url));
    const slot = changeLogNames(busy).slot;
    await expect(openPgChangeLog(target, busy, undefined, {})).rejects.toThrow(
      new RegExp(
        // the PID is the server's walsender, and is called that (#10 item 12)
        `^Replication slot "${slot}" is in use by another stream of this source \\(crm-backup connected from 127\\.0\\.0\\.1 since [0-9T:Z-]+, served by PostgreSQL server process \\d+\\); stop that stream first, or give this one another --name\\.$`,
      ),
    );
    await expect(dropPgChangeLog(target, busy)).rejects.toThrow(/is in use by a running stream/);
    await pump.stop();
    await dropPgChangeLog(target, busy);
    const slots = await query(
      pair.source.url,
      `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const pubs = await query(
      pair.source.url,
      `SELECT count(*)::int AS n FROM pg_publication WHERE pubname = $1`,
      [slot],
    );
    expect([slots.rows[0].n, pubs.rows[0].n]).toEqual([0, 0]);
  });

  it('yields heartbeats while idle, ends cleanly on abort and on break', async () => {
    const abort = new AbortController();
    const log = await openPgChangeLog(parsePgUrl(pair.source.url), streamName(pair.source.url), undefined, {
      signal: abort.signal,
      heartbeatMs: 100,
    });
    const started = Date.now();
    let beats = 0;
    for await (const item of log) {
      if (isHeartbeat(item)) beats++;
      if (beats === 5) abort.abort();
    }
    expect(Date.now() - started).toBeLessThan(5_000);
    const log2 = await openPgChangeLog(parsePgUrl(pair.source.url), streamName(pair.source.url), undefined, {
      heartbeatMs: 100,
    });
    for await (const item of log2) if (isHeartbeat(item)) break;
    const active = await query(
      pair.source.url,
      `SELECT active FROM pg_replication_slots WHERE slot_name = $1`,
      [changeLogNames(streamName(pair.source.url)).slot],
    );
    expect(active.rows[0].active).toBe(false);
  });
});

describe('PostgreSQL change log: server restart and a 1-million-row transaction', () => {
  const BIG = `CREATE TABLE big (id int PRIMARY KEY, a text, b numeric, c timestamptz)`;
  let server: ThrowawayServer;
  let pair: Pair;
  let target: TestDatabase;
  beforeAll(async () => {
    server = await pgStartOwnServer();
    // the source restarts; the target stays up on the shared server
    pair = await createPair('pgbig', BIG, server.url);
    target = await createPgDatabase('pgbig_dst');
    await query(target.url, BIG);
  });
  afterAll(async () => {
    await pair?.drop().catch(() => {});
    await target?.drop().catch(() => {});
    await server?.stop();
  });

  it('reconnects after a server restart without losing or repeating anything', async () => {
    const src = pair.source.url;
    const pump = await startPump(src, target.url, { name: 'rs' });
    try {
      await query(src, `INSERT INTO big SELECT g, 'before', g, now() FROM generate_series(1, 100) g`);
      await pump.reach(await currentPosition(src));
      await server.restart();
      await query(src, `INSERT INTO big SELECT g, 'after', g, now() FROM generate_series(101, 200) g`);
      await query(src, `UPDATE big SET a = 'changed' WHERE id % 10 = 0`);
      await pump.reach(await currentPosition(src), 60_000);
      expect(pump.statuses.some((s) => s.event === 'reconnecting')).toBe(true);
      expect(await checksums(target.url)).toEqual(await checksums(src));
      const positions = pump.transactions.map((t) => t.position);
      expect(new Set(positions).size).toBe(positions.length);
    } finally {
      await pump.stop();
      await dropPgChangeLog(parsePgUrl(src), 'rs');
    }
  });

  it('streams a 1-million-row transaction in bounded parts and replays it', async () => {
    const src = pair.source.url;
    await query(src, `TRUNCATE big`);
    await query(target.url, `TRUNCATE big`);
    let parts = 0;
    let rows = 0;
    let maxPart = 0;
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    let applyMs = 0;
    let t0 = 0;
    let peakHeap = 0;
    const pump = await startPump(src, target.url, {
      name: 'big',
      keep: false,
      onTransaction: (tx) => {
        if (tx.changes >= 1000) {
          if (parts === 0) t0 = Date.now();
          parts++;
          rows += tx.changes;
          maxPart = Math.max(maxPart, tx.payload.length);
          peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
        }
      },
    });
    try {
      const baseRss = process.memoryUsage().rss;
      await query(
        src,
        `INSERT INTO big SELECT g, md5(g::text), g / 7.0, now() FROM generate_series(1, 1000000) g`,
      );
      const inserted = Date.now();
      await pump.reach(await currentPosition(src), 300_000);
      applyMs = Date.now() - t0;
      const totalMs = Date.now() - inserted;
      clearInterval(sampler);
      expect(rows).toBe(1_000_000);
      expect(parts).toBeGreaterThanOrEqual(100);
      expect(maxPart).toBeLessThanOrEqual(8 * 1024 * 1024 + 64 * 1024);
      // the whole transaction as payload is ~80 MB; the process must stay far below holding it
      expect(peakRss - baseRss).toBeLessThan(300 * 1024 * 1024);
      // heapUsed includes garbage not yet collected; decoded whole, 1M rows would take well over 500 MiB
      expect(peakHeap).toBeLessThan(256 * 1024 * 1024);
      expect(await checksums(target.url)).toEqual(await checksums(src));
      console.log(
        `1M-row transaction: ${parts} parts, largest ${(maxPart / 1024).toFixed(0)} KiB; from commit to replayed ${totalMs} ms, ` +
          `first part to replayed ${applyMs} ms (${Math.round(1_000_000 / (applyMs / 1000))} rows/s); ` +
          `peak heap ${(peakHeap / 1048576).toFixed(0)} MiB, RSS +${((peakRss - baseRss) / 1048576).toFixed(0)} MiB`,
      );
    } finally {
      clearInterval(sampler);
      await pump.stop();
      await dropPgChangeLog(parsePgUrl(src), 'big');
    }
  });
});
