/**
 * Snapshot correctness against what the server's configuration and concurrent DDL can do to it:
 * database defaults that change how values are written or read as text (DateStyle,
 * IntervalStyle, extra_float_digits), and a table rewritten in the moment
 * between the snapshot's export and its table locks, whose rows the snapshot cannot see.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPgDatabase, type TestDatabase, pgQuery as sql } from '../harness/index.js';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { driver } from '../../drivers/postgres/index.js';
import { snapshotTestHooks } from '../../drivers/postgres/snapshot.js';
import type { TableStream } from '../../src/driver/source-driver.js';

/** The restore sequence the engine runs, minus the repository (as in postgres-snapshot.test.ts). */
async function roundTrip(from: string, to: string): Promise<TableStream[]> {
  const source = await driver.openSource(from, { name: 'test' });
  const target = await driver.openTarget(to);
  const streams: TableStream[] = [];
  try {
    const reader = await source.openSnapshot({ jobs: 2 });
    try {
      await target.assertEmpty();
      await target.createSchema(reader.schema, reader.schemaFormat, 'pre-data');
      for await (const s of reader.streams()) {
        streams.push(s);
        await target.load(s.name, s.format, s.data);
      }
      await target.createSchema(reader.schema, reader.schemaFormat, 'post-data');
      await target.finish();
    } finally {
      await reader.close();
    }
  } finally {
    await target.close();
    await source.close();
  }
  return streams;
}

async function snapSlots(url: string): Promise<number> {
  const r = await sql(
    url,
    "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name LIKE 'crmb\\_snap\\_%'",
  );
  return (r.rows[0] as { n: number }).n;
}

/** The rows of `query` as text under fixed settings, whatever the database's defaults are. */
async function textRows(url: string, query: string): Promise<unknown[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(
      "SET client_encoding = 'UTF8'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; SET extra_float_digits = 3; SET bytea_output = 'hex'",
    );
    return (await c.query(query)).rows;
  } finally {
    await c.end();
  }
}

const VALS = `SELECT id, d::text AS d, ts::text AS ts, tz::text AS tz, i::text AS i, f::text AS f, b::text AS b, txt
                FROM vals ORDER BY id`;

describe('postgres snapshot safety', () => {
  const dbs: TestDatabase[] = [];
  const db = async (prefix: string): Promise<TestDatabase> => {
    const d = await createPgDatabase(prefix);
    dbs.push(d);
    return d;
  };
  afterAll(async () => {
    await Promise.all(dbs.map((d) => d.drop()));
  });

  describe('database defaults for text output and input', () => {
    it('restores dates, intervals, floats and text equal across differently configured databases', async () => {
      const src = await db('safety_text_src');
      await sql(
        src.url,
        `CREATE TABLE vals (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, i interval, f float8, b bytea, txt text);
         INSERT INTO vals VALUES
           (1, '2024-03-05', '2024-03-05 01:02:03.456789', '2024-03-05 01:02:03.5+00', '-1 day +02:00',
            0.1::float8 + 0.2, '\\x00ff', 'café ü € 😀'),
           (2, '2024-12-11', '1999-01-02 23:59:59', '2024-07-01 12:00:00+05:30', '-1 day -02:00',
            123456.78901234567, '\\x5c27', E'tab\\there'),
           (3, 'infinity', '-infinity', NULL, '1 year -2 mons 3 days -04:05:06.5', 1e-300,
            '\\x', NULL)`,
      );
      // set after the seed, so that only the snapshot's own sessions run under them
      const settings = (name: string, values: Record<string, string>): string =>
        Object.entries(values)
          .map(([k, v]) => `ALTER DATABASE "${name}" SET ${k} = '${v}';`)
          .join(' ');
      await sql(
        src.url,
        settings(src.name, {
          DateStyle: 'SQL, DMY',
          IntervalStyle: 'sql_standard',
          extra_float_digits: '0',
          bytea_output: 'escape',
          TimeZone: 'Asia/Kolkata',
        }),
      );
      const dst = await db('safety_text_dst');
      await sql(
        dst.url,
        settings(dst.name, {
          DateStyle: 'SQL, MDY',
          IntervalStyle: 'iso_8601',
          TimeZone: 'America/New_York',
        }),
      );
      await roundTrip(src.url, dst.url);
      expect(await pgTableChecksums(dst.url)).toEqual(await pgTableChecksums(src.url));
      const want = await textRows(src.url, VALS);
      expect(await textRows(dst.url, VALS)).toEqual(want);
      expect(want[0]).toMatchObject({
        d: '2024-03-05',
        i: '-1 days +02:00:00',
        f: '0.30000000000000004',
        txt: 'café ü € 😀',
      });
      expect(want[1]).toMatchObject({ i: '-1 days -02:00:00', f: '123456.78901234567', d: '2024-12-11' });
    });
  });

  describe('a table rewritten between the export and the lock', () => {
    let src: TestDatabase;
    beforeAll(async () => {
      src = await db('safety_rw_src');
    });
    afterEach(() => {
      delete snapshotTestHooks.beforeLock;
    });

    /** Each rewrite leaves a file whose rows the exported snapshot cannot see. */
    const rewrites: Array<[string, (url: string, table: string) => Promise<void>]> = [
      [
        'ALTER COLUMN TYPE committed while the snapshot waits for its lock',
        async (url, table) => {
          // the rewriter holds the table first; the snapshot's LOCK TABLE queues behind it
          const x = new pg.Client({ connectionString: url });
          await x.connect();
          await x.query(`BEGIN; LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
          const waiting = `SELECT 1 FROM pg_locks WHERE relation = '${table}'::regclass AND NOT granted`;
          void (async () => {
            while ((await x.query(waiting)).rowCount === 0) await new Promise((r) => setTimeout(r, 20));
            await x.query(`ALTER TABLE ${table} ALTER COLUMN v TYPE bigint; COMMIT`);
            await x.end();
          })();
        },
      ],
      [
        'TRUNCATE and refill',
        (url, table) =>
          sql(
            url,
            `BEGIN; TRUNCATE ${table}; INSERT INTO ${table} SELECT g, g FROM generate_series(1, 1000) g; COMMIT`,
          ).then(() => undefined),
      ],
      [
        'rename and replace',
        (url, table) =>
          sql(
            url,
            `BEGIN; ALTER TABLE ${table} RENAME TO ${table}_old; CREATE TABLE ${table} (id int PRIMARY KEY, v int);
             INSERT INTO ${table} SELECT g, -g FROM generate_series(1, 1000) g; COMMIT`,
          ).then(() => undefined),
      ],
    ];

    it.each(rewrites)('%s: the snapshot is retried and stores every row', async (_what, rewrite) => {
      const table = `rw_${Math.random().toString(36).slice(2, 8)}`;
      await sql(
        src.url,
        `CREATE TABLE ${table} (id int PRIMARY KEY, v int); INSERT INTO ${table} SELECT g, g FROM generate_series(1, 1000) g`,
      );
      let attempts = 0;
      snapshotTestHooks.beforeLock = async () => {
        if (attempts++ === 0) await rewrite(src.url, table);
      };
      const dst = await db('safety_rw_dst');
      const streams = await roundTrip(src.url, dst.url);
      expect(streams.find((s) => s.name === `public.${table}`)?.rows).toBe(1000);
      expect(await pgTableChecksums(dst.url)).toEqual(await pgTableChecksums(src.url));
      expect(attempts).toBe(2);
      await expect.poll(() => snapSlots(src.url), { timeout: 10_000 }).toBe(0);
    });

    it('refuses, naming the table, when the rewrite happens again on the retry', async () => {
      await sql(
        src.url,
        'CREATE TABLE churn (id int PRIMARY KEY, v int); INSERT INTO churn SELECT g, g FROM generate_series(1, 100) g',
      );
      let attempts = 0;
      snapshotTestHooks.beforeLock = async () => {
        attempts++;
        await sql(src.url, `ALTER TABLE churn ALTER COLUMN v TYPE ${attempts % 2 ? 'bigint' : 'int'}`);
      };
      const source = await driver.openSource(src.url, { name: 'test' });
      try {
        await expect(source.openSnapshot({ jobs: 1 })).rejects.toThrow(
          /^Table public\.churn was rewritten or replaced .* run the backup again\.$/,
        );
      } finally {
        await source.close();
      }
      expect(attempts).toBe(2);
      await expect.poll(() => snapSlots(src.url), { timeout: 10_000 }).toBe(0);
    });
  });
});
