/**
 * PostgreSQL change log -> apply round trips against a real server: the stream of one database is
 * replayed into another with the same schema, and the two must match table by table.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePgUrl } from '../../drivers/postgres/internal/connection.js';
import { changeLogNames, dropPgChangeLog } from '../../drivers/postgres/change-log.js';
import { decodePayload } from '../../drivers/postgres/internal/payload.js';
import {
  checksums,
  createPair,
  currentPosition,
  query,
  startPump,
  streamName,
  type Pair,
} from './postgres-stream.helpers.js';

const SCHEMA = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE contacts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name text NOT NULL, amount numeric(20, 6), seen timestamptz, born date, span interval,
  tags text[], doc jsonb, raw bytea, uid uuid, ip inet, r int4range, m mood, p positive,
  f8 double precision, j json, flag boolean, big text
);
CREATE TABLE notes (a int, b text);
CREATE TABLE "Odd ""Name"" ünï" ("weird col" text PRIMARY KEY, "Ünï" int);
`;

describe('PostgreSQL change log round trip', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await createPair('pgstream', SCHEMA);
  });
  afterAll(async () => {
    await dropPgChangeLog(parsePgUrl(pair.source.url), streamName(pair.source.url)).catch(() => {});
    await pair.drop();
  });

  it('replays inserts, updates and deletes across types, TOAST and tables without a key', async () => {
    const pump = await startPump(pair.source.url, pair.target.url);
    try {
      await query(
        pair.source.url,
        `INSERT INTO contacts (name, amount, seen, born, span, tags, doc, raw, uid, ip, r, m, p, f8, j, flag, big)
         SELECT 'n' || g, 12345678901234.123456 / g, now() - g * interval '1 hour', date '2000-01-01' + g,
                interval '1 day 2 hours' * g, ARRAY['a''b', 'c"d', NULL], jsonb_build_object('k', g, 'deep', jsonb_build_array(1.5, 'x')),
                decode('00ff' || lpad(to_hex(g), 4, '0'), 'hex'), gen_random_uuid(), '10.0.0.1/24', int4range(g, g + 10),
                'happy', g, 1.0 / 3 * g, '{"a": [1, 2]}', g % 2 = 0,
                (SELECT string_agg(md5(i::text || g::text), '') FROM generate_series(1, 200) i)
         FROM generate_series(1, 50) g`,
      );
      await query(pair.source.url, `INSERT INTO notes VALUES (1, 'x'), (1, 'x'), (2, NULL), (3, 'y')`);
      await query(pair.source.url, `INSERT INTO "Odd ""Name"" ünï" VALUES ('it''s here', 1), ('ñ', 2)`);
      // TOASTed big/doc stay untouched: pgoutput sends them as unchanged, apply must keep them
      await query(
        pair.source.url,
        `UPDATE contacts SET name = name || '!', amount = amount * 2 WHERE id % 3 = 0`,
      );
      await query(pair.source.url, `UPDATE contacts SET big = big || 'tail' WHERE id = 5`);
      await query(pair.source.url, `DELETE FROM contacts WHERE id IN (7, 8)`);
      // no primary key: replica identity full, one of two identical rows
      await query(
        pair.source.url,
        `UPDATE notes SET b = 'z' WHERE ctid = (SELECT ctid FROM notes WHERE a = 1 LIMIT 1)`,
      );
      await query(pair.source.url, `DELETE FROM notes WHERE b IS NULL`);
      await query(
        pair.source.url,
        `UPDATE "Odd ""Name"" ünï" SET "weird col" = 'moved', "Ünï" = 3 WHERE "Ünï" = 1`,
      );
      // rolled back: never appears
      await query(pair.source.url, `BEGIN; INSERT INTO notes VALUES (99, 'rollback'); ROLLBACK`);
      await pump.reach(await currentPosition(pair.source.url));
      expect(await checksums(pair.target.url)).toEqual(await checksums(pair.source.url));
      const all = pump.transactions.flatMap((t) => [...decodePayload(t.payload)]);
      expect(JSON.stringify(all)).not.toContain('rollback');
      expect(all.some((r) => r.kind === 'update' && r.newRow.includes(false))).toBe(true);
      const positions = pump.transactions.map((t) => t.position);
      expect([...positions].sort()).toEqual(positions);
    } finally {
      await pump.stop();
    }
  });

  it('sets REPLICA IDENTITY FULL on tables without a key, and names are sanitised', async () => {
    const r = await query(pair.source.url, `SELECT relreplident FROM pg_class WHERE relname = 'notes'`);
    expect(r.rows[0].relreplident).toBe('f');
    const names = changeLogNames('CRM prod/eu ünï');
    expect(names.slot).toMatch(/^crmb_[a-z0-9_]+$/);
    expect(names.slot.length).toBeLessThanOrEqual(63);
    expect(changeLogNames('x'.repeat(100)).slot.length).toBe(63);
    expect(changeLogNames('a-b').slot).not.toBe(changeLogNames('a_b').slot);
  });
});
