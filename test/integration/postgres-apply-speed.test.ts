/**
 * Grouped replay (apply-batch.ts) must be exactly as exact as one statement per row: the cases
 * where merging changes could go wrong, captured from a real change log, replayed, compared.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTransaction } from '../../drivers/postgres/apply.js';
import { dropPgChangeLog } from '../../drivers/postgres/change-log.js';
import { parsePgUrl } from '../../drivers/postgres/internal/connection.js';
import { decodePayload } from '../../drivers/postgres/internal/payload.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import {
  checksums,
  createPair,
  currentPosition,
  query,
  startPump,
  streamName,
  type Pair,
} from './postgres-stream.helpers.js';

const T = `"Odd ""T"" x"`;
const SCHEMA = `
CREATE TABLE ${T} ("my id" bigint PRIMARY KEY, "a b" text, "Big ""col""" text, n numeric(30, 10), j jsonb, arr int[]);
CREATE TABLE other (id int PRIMARY KEY, v text);
CREATE TABLE uniq (id int PRIMARY KEY, email text UNIQUE);
CREATE TABLE comp (a int, b text, v text, PRIMARY KEY (a, b));
CREATE TABLE nokey (a int, b text);
`;

const SEED = `
INSERT INTO ${T} SELECT g, 'r' || g, (SELECT string_agg(md5(i::text || g), '') FROM generate_series(1, 200) i),
  g / 3.0, jsonb_build_object('g', g), ARRAY[g, NULL] FROM generate_series(1, 400) g;
INSERT INTO other SELECT g, 'o' || g FROM generate_series(1, 100) g;
INSERT INTO uniq SELECT g, 'e' || g FROM generate_series(1, 100) g;
INSERT INTO comp SELECT g % 10, 'it''s "' || g || '"', 'v' FROM generate_series(1, 50) g;
INSERT INTO nokey VALUES (1, 'x'), (1, 'x'), (1, 'x'), (2, NULL), (2, NULL);
`;

/** Each string is one source transaction. */
const CHANGES = [
  // the same key several times in one transaction: the last value must win
  `BEGIN; UPDATE ${T} SET "a b" = 'x1' WHERE "my id" = 1; UPDATE ${T} SET "a b" = 'y' WHERE "my id" = 2;
   UPDATE ${T} SET "a b" = 'x2', n = NULL WHERE "my id" = 1; UPDATE ${T} SET "a b" = 'x3' WHERE "my id" = 1; COMMIT`,
  // key changes amid plain updates, and a key reused by another row right after
  `BEGIN; UPDATE ${T} SET "a b" = 'before' WHERE "my id" BETWEEN 20 AND 29;
   UPDATE ${T} SET "my id" = 5000 WHERE "my id" = 30; UPDATE ${T} SET "my id" = 30 WHERE "my id" = 31;
   UPDATE ${T} SET "a b" = 'after', j = NULL WHERE "my id" IN (30, 5000, 32); UPDATE ${T} SET "my id" = "my id" + 1000 WHERE "my id" BETWEEN 10 AND 19; COMMIT`,
  // update, delete, insert again, update again: one key, four kinds in a row
  `BEGIN; UPDATE ${T} SET "a b" = 'gone soon' WHERE "my id" = 40; DELETE FROM ${T} WHERE "my id" = 40;
   INSERT INTO ${T} VALUES (40, 'reborn', NULL, 1, '{}', '{}'); UPDATE ${T} SET "a b" = NULL, arr = ARRAY[NULL]::int[] WHERE "my id" = 40; COMMIT`,
  // interleaved tables, row by row
  `DO $$ BEGIN FOR i IN 41..90 LOOP
     UPDATE ${T} SET n = n * 2 WHERE "my id" = i; UPDATE other SET v = v || '!' WHERE id = i; END LOOP; END $$`,
  // unchanged TOAST in a batch where a third of the rows do change the TOASTed column
  `UPDATE ${T} SET n = n + 1, "Big ""col""" = CASE WHEN "my id" % 3 = 0 THEN "Big ""col""" || 'z' ELSE "Big ""col""" END
    WHERE "my id" BETWEEN 100 AND 299`,
  // each row takes the e-mail the row before it just gave up: fine one by one, not in any order
  `DO $$ BEGIN FOR i IN REVERSE 100..1 LOOP UPDATE uniq SET email = 'e' || (i + 1) WHERE id = i; END LOOP; END $$`,
  `UPDATE comp SET v = 'w' WHERE a < 5; DELETE FROM comp WHERE a = 7`,
  `UPDATE nokey SET b = 'y' WHERE ctid = (SELECT ctid FROM nokey WHERE a = 1 LIMIT 1);
   DELETE FROM nokey WHERE ctid = (SELECT ctid FROM nokey WHERE a = 2 LIMIT 1)`,
  `BEGIN; DELETE FROM ${T} WHERE "my id" BETWEEN 300 AND 350; DELETE FROM other WHERE id > 95;
   DELETE FROM ${T} WHERE "my id" BETWEEN 351 AND 360; COMMIT`,
];

/** Applies `txs` on a client that counts the statements it sends. */
async function applyCounting(url: string, txs: readonly Transaction[]): Promise<Map<string, number>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const counts = new Map<string, number>();
  const original = c.query.bind(c) as (sql: unknown, ...rest: unknown[]) => unknown;
  (c as unknown as { query: typeof original }).query = (sql, ...rest) => {
    if (typeof sql === 'string') {
      for (const s of sql.split(';\n')) {
        const verb = s.trimStart().split(' ')[0] ?? '';
        counts.set(verb, (counts.get(verb) ?? 0) + 1);
      }
    }
    return original(sql, ...rest);
  };
  try {
    for (const tx of txs) await applyTransaction(c, tx);
  } finally {
    await c.end();
  }
  return counts;
}

describe('PostgreSQL replay of grouped changes', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await createPair('pgapply', SCHEMA);
    await query(pair.source.url, SEED);
    await query(pair.target.url, SEED);
  });
  afterAll(async () => {
    await dropPgChangeLog(parsePgUrl(pair.source.url), streamName(pair.source.url)).catch(() => {});
    await pair.drop();
  });

  it('replays repeated keys, key changes, interleaved tables, mixed TOAST and NULLs exactly, in few statements', async () => {
    const pump = await startPump(pair.source.url, undefined);
    try {
      for (const sql of CHANGES) await query(pair.source.url, sql);
      await pump.reach(await currentPosition(pair.source.url));
    } finally {
      await pump.stop();
    }
    const records = pump.transactions.flatMap((t) => [...decodePayload(t.payload)]);
    const updates = records.filter((r) => r.kind === 'update');
    expect(updates.some((r) => r.newRow.includes(false))).toBe(true);
    expect(updates.some((r) => r.oldKind === 'K')).toBe(true);

    const counts = await applyCounting(pair.target.url, pump.transactions);
    expect(await checksums(pair.target.url)).toEqual(await checksums(pair.source.url));
    const rows = await query(
      pair.target.url,
      `SELECT "my id" AS id, "a b" AS ab FROM ${T} WHERE "my id" IN (1, 30, 40, 5000) ORDER BY 1`,
    );
    expect(rows.rows).toEqual([
      { id: '1', ab: 'x3' },
      { id: '30', ab: 'after' },
      { id: '40', ab: null },
      { id: '5000', ab: 'after' },
    ]);
    // grouping happened: the ranges became a few statements (key changes, interleaved tables, uniq
    // with its second unique index and nokey stay one statement per row: ~230 of ~530 changes)
    const changed = records.filter((r) => r.kind === 'update' || r.kind === 'delete').length;
    const statements = (counts.get('UPDATE') ?? 0) + (counts.get('DELETE') ?? 0);
    expect(changed).toBeGreaterThan(500);
    expect(changed - statements).toBeGreaterThan(250);
  });
});
