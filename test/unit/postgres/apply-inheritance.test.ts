/**
 * Statements replay builds for inheritance parents and partitioned tables: `ONLY` on plain tables
 * (a change of a parent is the parent's alone; its children's rows arrive under their own
 * relations), never on a partitioned table (no rows of its own; TRUNCATE ONLY is an error there).
 * A fake client answers the catalog queries, so the SQL text can be read back.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { applyTransaction } from '../../../drivers/postgres/apply.js';
import type { Transaction } from '../../../src/driver/source-driver.js';
import { changePayload, INT4, relation, TEXT } from '../../helpers/pg-payload.js';

interface FakeTable {
  readonly oid: number;
  readonly relkind: 'r' | 'p';
}

const TABLES: Record<string, FakeTable> = {
  '"public"."parent"': { oid: 5001, relkind: 'r' },
  '"public"."events"': { oid: 5002, relkind: 'p' },
};

/** Records every statement; answers catalog lookups; every data statement changes one row. */
function fakeClient(): { client: pg.Client; sql: string[]; relkindLookups: () => number } {
  const sql: string[] = [];
  let lookups = 0;
  const query = (text: string, params?: unknown[]): Promise<unknown> => {
    if (/to_regclass\(\$1\)/.test(text)) {
      lookups++;
      const t = TABLES[String(params?.[0])];
      return Promise.resolve({ rows: t ? [{ oid: t.oid, relkind: t.relkind }] : [], rowCount: t ? 1 : 0 });
    }
    if (/FROM pg_attribute/.test(text)) {
      return Promise.resolve({
        rows: [
          { name: 'id', type: 'integer', identity: '', base: 'int4' },
          { name: 'v', type: 'text', identity: '', base: 'text' },
        ],
      });
    }
    if (/FROM pg_index/.test(text)) return Promise.resolve({ rows: [{ n: 0 }] });
    sql.push(text);
    return Promise.resolve({ rows: [], rowCount: 1 });
  };
  return { client: { query } as unknown as pg.Client, sql, relkindLookups: () => lookups };
}

const RELATIONS = [
  relation(1, 'parent', 'd', [
    ['id', INT4, 1],
    ['v', TEXT, 0],
  ]),
  relation(2, 'events', 'd', [
    ['id', INT4, 1],
    ['v', TEXT, 0],
  ]),
];

function tx(position: string, ...records: unknown[][]): Transaction {
  return {
    position,
    commitTime: 1n,
    changes: records.length,
    payload: changePayload([...RELATIONS, ...records]),
  };
}

/** The data statements of one applied transaction, without BEGIN/COMMIT and session settings. */
async function statements(records: unknown[][]): Promise<string[]> {
  const f = fakeClient();
  await applyTransaction(f.client, tx('0000000000000001', ...records));
  return f.sql.filter((s) => !/^(BEGIN|COMMIT|ROLLBACK)/.test(s));
}

describe('replay into inheritance parents and partitioned tables', () => {
  it('truncates a plain table ONLY and a partitioned table without ONLY', async () => {
    const [s] = await statements([['T', [1, 2], 0, 0]]);
    expect(s).toBe('TRUNCATE ONLY "public"."parent", "public"."events"');
  });

  it('updates and deletes by key in ONLY the plain table', async () => {
    const [u] = await statements([['U', 1, ['7', 'new'], null, null]]);
    expect(u).toMatch(/^UPDATE ONLY "public"\."parent" AS crmb_t SET /);
    const [d] = await statements([['D', 1, 'K', ['7', null]]]);
    expect(d).toMatch(/^DELETE FROM ONLY "public"\."parent" AS crmb_t USING /);
    const [ud] = await statements([['U', 1, ['8', 'new'], 'K', ['7', null]]]);
    expect(ud).toMatch(/^UPDATE ONLY "public"\."parent" SET .* WHERE "id" = '7'::integer$/);
  });

  it('finds a REPLICA IDENTITY FULL row by a ctid of the plain table itself', async () => {
    const [u] = await statements([['U', 1, ['1', 'b'], 'O', ['1', 'a']]]);
    expect(u).toBe(
      `UPDATE ONLY "public"."parent" SET "id" = '1'::integer, "v" = 'b'::text WHERE ctid = (SELECT ctid FROM ONLY "public"."parent" WHERE "id" = '1'::integer AND "v" = 'a'::text LIMIT 1)`,
    );
    const [d] = await statements([['D', 1, 'O', ['1', 'a']]]);
    expect(d).toBe(
      `DELETE FROM ONLY "public"."parent" WHERE ctid = (SELECT ctid FROM ONLY "public"."parent" WHERE "id" = '1'::integer AND "v" = 'a'::text LIMIT 1)`,
    );
  });

  it('leaves changes sent through a partitioned root (publish_via_partition_root) to reach its partitions', async () => {
    const [u] = await statements([['U', 2, ['7', 'new'], null, null]]);
    expect(u).toMatch(/^UPDATE "public"\."events" AS crmb_t SET /);
    const [d] = await statements([['D', 2, 'O', ['1', 'a']]]);
    expect(d).toBe(
      `DELETE FROM "public"."events" WHERE (tableoid, ctid) = (SELECT tableoid, ctid FROM "public"."events" WHERE "id" = '1'::integer AND "v" = 'a'::text LIMIT 1)`,
    );
  });

  it('looks the relkind up once per relation, not once per transaction', async () => {
    const f = fakeClient();
    await applyTransaction(f.client, tx('0000000000000001', ['T', [1], 0, 0]));
    await applyTransaction(f.client, tx('0000000000000002', ['D', 1, 'K', ['7', null]]));
    await applyTransaction(f.client, tx('0000000000000003', ['U', 1, ['7', 'x'], null, null]));
    expect(f.relkindLookups()).toBe(1);
  });
});
