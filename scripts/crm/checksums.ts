/**
 * Per-table checksums for comparing databases (source vs restore, run vs run). Each row is
 * hashed (md5 of its text form), the row hashes are sorted, and the table checksum is the
 * md5 of their concatenation: independent of physical order, correct for tables without a
 * primary key and with duplicate rows (sorting the hashes of whole rows is an order over all
 * columns). Session settings are pinned so that output formats
 * (time zone, float digits) do not depend on the server's defaults.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import mysql from 'mysql2';
import { dialectOfUrl } from './connect.js';

export interface TableChecksum {
  readonly rows: number;
  readonly md5: string;
}

export interface ChecksumOptions {
  /** Only these tables (default: all base tables). */
  readonly tables?: readonly string[];
  /** Skip these tables, e.g. `['knex_migrations']` whose times differ between runs. */
  readonly exclude?: readonly string[];
  /** PostgreSQL schema (default `public`). */
  readonly schema?: string;
}

const EMPTY_MD5 = createHash('md5').update('').digest('hex');

function selectTables(all: string[], opts?: ChecksumOptions): string[] {
  const only = opts?.tables ? new Set(opts.tables) : undefined;
  const skip = new Set(opts?.exclude ?? []);
  return all.filter((t) => (only ? only.has(t) : true) && !skip.has(t)).sort();
}

/** Checksums of the tables in schema `public` (or `opts.schema`) of the PostgreSQL database at `url`. */
export async function pgTableChecksums(url: string, opts?: ChecksumOptions): Promise<Record<string, TableChecksum>> {
  const schema = opts?.schema ?? 'public';
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'`);
    const all = await c.query<{ t: string; k: string }>(
      `SELECT c.relname AS t, c.relkind AS k FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')`,
      [pg.escapeIdentifier(schema)],
    );
    const partitioned = new Set(all.rows.filter((r) => r.k === 'p').map((r) => r.t));
    const out: Record<string, TableChecksum> = {};
    for (const table of selectTables(all.rows.map((r) => r.t), opts)) {
      // a partitioned parent holds no rows of its own: its checksum is over all its partitions'
      // rows (each partition is summed on its own too, which shows rows that changed partition)
      const only = partitioned.has(table) ? '' : 'ONLY ';
      const rel = `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(table)}`;
      // row hashes are 32 bytes each, so string_agg stays small even for large tables
      const r = await c.query<{ n: string; md5: string }>(
        `SELECT count(*) AS n, md5(coalesce(string_agg(h, '' ORDER BY h COLLATE "C"), '')) AS md5 FROM (SELECT md5((t.*)::text) AS h FROM ${only}${rel} t) x`,
      );
      const row = r.rows[0];
      out[table] = { rows: Number(row?.n ?? 0), md5: row?.md5 ?? EMPTY_MD5 };
    }
    return out;
  } finally {
    await c.end();
  }
}

const quoteId = (name: string): string => `\`${name.replace(/`/g, '``')}\``;

/** Checksums of the base tables of the current database of the MySQL/MariaDB server at `url`. */
export async function mysqlTableChecksums(url: string, opts?: ChecksumOptions): Promise<Record<string, TableChecksum>> {
  const core = mysql.createConnection({ uri: url, rowsAsArray: true });
  const c = core.promise();
  try {
    await c.query(`SET time_zone = '+00:00', NAMES utf8mb4`);
    const [tables] = await c.query(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'`);
    const out: Record<string, TableChecksum> = {};
    for (const table of selectTables((tables as string[][]).map((r) => String(r[0])), opts)) {
      const [cols] = await c.query(
        `SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
        [table],
      );
      // length-prefixed values and an explicit NULL marker: no two different rows share a text form
      const parts = (cols as string[][]).map((r) => {
        const col = quoteId(String(r[0]));
        return `IF(${col} IS NULL, 'N', CONCAT(LENGTH(${col}), ':', ${col}))`;
      });
      const hasher = createHash('md5');
      let rows = 0;
      // the row hashes are sorted by the server and streamed, so memory stays flat
      const stream = core
        .query(`SELECT MD5(CONCAT_WS(',', ${parts.join(', ')})) AS h FROM ${quoteId(table)} ORDER BY h`)
        .stream();
      for await (const row of stream as AsyncIterable<string[]>) {
        hasher.update(String(row[0]));
        rows++;
      }
      out[table] = { rows, md5: hasher.digest('hex') };
    }
    return out;
  } finally {
    await c.end();
  }
}

/** Checksums for either dialect, chosen by the URL scheme. */
export function tableChecksums(url: string, opts?: ChecksumOptions): Promise<Record<string, TableChecksum>> {
  return dialectOfUrl(url) === 'pg' ? pgTableChecksums(url, opts) : mysqlTableChecksums(url, opts);
}
