/**
 * MySQL/MariaDB helpers for integration tests: scripts on a short-lived connection, and
 * per-table checksums of every column's exact bytes in primary-key order, independent of the
 * driver's own reading (FLOAT widened by arithmetic, BIT as hex, text as raw bytes).
 */
import { createHash } from 'node:crypto';
import mysql from 'mysql2/promise';

export async function mysqlExec(url: string, sql: string, values?: unknown[]): Promise<unknown[]> {
  const c = await mysql.createConnection({
    uri: url,
    multipleStatements: !values,
    timezone: 'Z',
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
  });
  try {
    await c.query("SET time_zone = '+00:00'");
    const [rows] = await c.query(sql, values);
    return rows as unknown[];
  } finally {
    await c.end();
  }
}

/** Every table's AUTO_INCREMENT counter, the next id it hands out, by table name. */
export async function mysqlCounters(url: string): Promise<Record<string, bigint>> {
  const rows = (await mysqlExec(
    url,
    `SELECT TABLE_NAME AS t, AUTO_INCREMENT AS n FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' AND AUTO_INCREMENT IS NOT NULL`,
  )) as Array<{ t: string; n: string }>;
  return Object.fromEntries(rows.map((r) => [r.t, BigInt(r.n)]));
}

/**
 * Rotates the server's binlog and purges every older file: the binlog positions stored before are
 * gone. MariaDB keeps the previous file until its binlog checkpoint is written, and purges no file
 * a dump thread still reads, so the purge is repeated until the new file is the only one left or
 * `timeoutMs` passed. Returns the new file and the files the server keeps.
 */
export async function purgeBinlogs(
  url: string,
  timeoutMs = 30_000,
): Promise<{ newest: string; kept: string[] }> {
  const c = await mysql.createConnection({ uri: url });
  try {
    await c.query('FLUSH BINARY LOGS');
    const [st] = await c.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    const newest = String(st[0]?.File);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await c.query('PURGE BINARY LOGS TO ?', [newest]);
      const [logs] = await c.query<mysql.RowDataPacket[]>('SHOW BINARY LOGS');
      const kept = logs.map((r) => String(r.Log_name));
      if (kept.length === 1 || Date.now() > deadline) return { newest, kept };
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await c.end();
  }
}

export interface TableChecksum {
  readonly rows: number;
  readonly hash: string;
}

/** Every base table of the URL's database: its rows' exact bytes, all columns (generated and invisible too), ordered by key. */
export async function mysqlChecksums(url: string): Promise<Record<string, TableChecksum>> {
  const c = await mysql.createConnection({ uri: url });
  try {
    await c.query("SET time_zone = '+00:00', character_set_results = binary");
    const [tables] = (await c.query(
      "SELECT CAST(TABLE_NAME AS CHAR) AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
    )) as unknown as [Array<{ t: Buffer | string }>];
    const out: Record<string, TableChecksum> = {};
    for (const { t: raw } of tables) {
      const t = String(raw);
      const [cols] = (await c.query(
        `SELECT CAST(COLUMN_NAME AS CHAR) AS name, CAST(DATA_TYPE AS CHAR) AS type, CAST(COLUMN_KEY AS CHAR) AS k
           FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
        [t],
      )) as unknown as [Array<{ name: Buffer | string; type: Buffer | string; k: Buffer | string }>];
      const q = (n: string): string => `\`${n.replace(/`/g, '``')}\``;
      const exprs = cols.map((col) => {
        const n = q(String(col.name));
        const type = String(col.type);
        if (type === 'float' || type === 'double') return `(${n} * 1e0)`;
        if (type === 'bit') return `HEX(${n})`;
        return n;
      });
      const pk = cols.filter((col) => String(col.k) === 'PRI').map((col) => q(String(col.name)));
      const order = (pk.length ? pk : cols.map((col) => q(String(col.name)))).join(', ');
      const [rows] = (await c.query({
        sql: `SELECT ${exprs.join(', ')} FROM ${q(t)} ORDER BY ${order}`,
        rowsAsArray: true,
        typeCast: ((field: { buffer(): Buffer | null }) => field.buffer()) as never,
      })) as unknown as [Array<Array<Buffer | null>>];
      const h = createHash('sha256');
      for (const row of rows) {
        for (const v of row) {
          if (v === null) h.update('\u0000N');
          else h.update(`\u0000${v.length}:`).update(v);
        }
        h.update('\n');
      }
      out[t] = { rows: rows.length, hash: h.digest('hex') };
    }
    return out;
  } finally {
    await c.end();
  }
}

import { driver } from '../../drivers/mysql/index.js';
import type { SnapshotOptions, SnapshotReader, TableStream } from '../../src/driver/source-driver.js';

/** The restore sequence the core runs, minus the repository: pre-data, parallel loads, post-data, finish. */
export async function mysqlRoundTrip(
  from: string,
  to: string,
  opts: Omit<SnapshotOptions, 'jobs'> & { jobs?: number } = {},
): Promise<{ reader: SnapshotReader; streams: TableStream[]; warnings: readonly string[] }> {
  const jobs = opts.jobs ?? 2;
  const source = await driver.openSource(from, { name: 'test' });
  const target = await driver.openTarget(to);
  const reader = await source.openSnapshot({ ...opts, jobs });
  const streams: TableStream[] = [];
  let warnings: readonly string[] = [];
  try {
    await target.assertEmpty();
    await target.createSchema(reader.schema, reader.schemaFormat, 'pre-data');
    const running = new Set<Promise<void>>();
    for await (const s of reader.streams()) {
      streams.push(s);
      const p = target.load(s.name, s.format, s.data).then(() => void running.delete(p));
      running.add(p);
      if (running.size >= jobs) await Promise.race(running);
    }
    await Promise.all(running);
    await target.createSchema(reader.schema, reader.schemaFormat, 'post-data');
    warnings = target.warnings?.() ?? [];
    await target.finish();
  } finally {
    await reader.close();
    await target.close();
    await source.close();
  }
  return { reader, streams, warnings };
}
