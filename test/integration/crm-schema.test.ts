import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, type TestDatabase } from '../harness/index.js';
import { migrateCrm, withKnex } from '../../scripts/crm/connect.js';
import { seedCrm } from '../../scripts/crm/seed.js';
import { runWorkload, WORKLOAD_OPS } from '../../scripts/crm/workload.js';
import { rowCounts } from '../../scripts/crm/generate.js';
import { tableChecksums } from '../../scripts/crm/checksums.js';
import { tableBytes, totalBytes } from '../../scripts/crm/size.js';
import { logicalSchema } from '../../scripts/crm/logical-schema.js';
import { CRM_TABLES } from '../../migrations/knex-config.js';

describe('reference CRM schema', () => {
  let pgDb: TestDatabase;
  let myDb: TestDatabase;
  beforeAll(async () => {
    [pgDb, myDb] = await Promise.all([createPgDatabase('crm_schema'), createMysqlDatabase('crm_schema')]);
    await Promise.all([migrateCrm(pgDb.url), migrateCrm(myDb.url)]);
  });
  afterAll(async () => {
    await pgDb?.drop();
    await myDb?.drop();
  });

  it('is the same logical schema on PostgreSQL and MariaDB', async () => {
    const [pgSchema, mySchema] = await Promise.all([logicalSchema(pgDb.url), logicalSchema(myDb.url)]);
    expect(Object.keys(pgSchema).sort()).toEqual([...CRM_TABLES].sort());
    expect(mySchema).toEqual(pgSchema);
  });

  it('has the features change capture must cope with', async () => {
    const s = await logicalSchema(pgDb.url);
    expect(s.email_events?.primaryKey).toEqual([]);
    expect(s.deals?.columns.find((c) => c.name === 'stage')?.type).toBe(
      'enum(lead,qualified,proposal,negotiation,won,lost)',
    );
    expect(s.deals?.columns.find((c) => c.name === 'amount')?.type).toBe('decimal(14,2)');
    expect(s.contacts?.columns.find((c) => c.name === 'custom_fields')?.type).toBe('json');
    expect(s.notes?.columns.find((c) => c.name === 'deleted_at')).toEqual({
      name: 'deleted_at',
      type: 'timestamptz(6)',
      nullable: true,
    });
    expect(s.activities?.foreignKeys).toContain('deal_id -> deals.id');
  });

  it('migrates idempotently and rolls back cleanly', async () => {
    await migrateCrm(pgDb.url);
    for (const url of [pgDb.url, myDb.url]) {
      await withKnex(url, async (knex) => {
        await knex.migrate.rollback(undefined, true);
        expect(Object.keys(await logicalSchema(knex))).toEqual([]);
        await knex.migrate.latest();
      });
    }
  });
});

describe('seed generator', () => {
  const made: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(made.map((d) => d.drop()));
  });
  const fresh = async (dialect: 'pg' | 'mysql', prefix: string): Promise<TestDatabase> => {
    const db = dialect === 'pg' ? await createPgDatabase(prefix) : await createMysqlDatabase(prefix);
    made.push(db);
    return db;
  };

  it.each(['pg', 'mysql'] as const)(
    'is deterministic on %s: same scale and seed, same checksums',
    async (dialect) => {
      const [a, b, c] = await Promise.all([
        fresh(dialect, 'seed_a'),
        fresh(dialect, 'seed_b'),
        fresh(dialect, 'seed_c'),
      ]);
      await Promise.all([
        seedCrm(a.url, { scale: 0.02, seed: 7 }),
        seedCrm(b.url, { scale: 0.02, seed: 7 }),
        seedCrm(c.url, { scale: 0.02, seed: 8 }),
      ]);
      const opts = { exclude: ['knex_migrations', 'knex_migrations_lock'] };
      const [ca, cb, cc] = await Promise.all([
        tableChecksums(a.url, opts),
        tableChecksums(b.url, opts),
        tableChecksums(c.url, opts),
      ]);
      expect(Object.keys(ca).sort()).toEqual([...CRM_TABLES].sort());
      expect(ca).toEqual(cb);
      expect(ca.notes?.md5).not.toBe(cc.notes?.md5);
      const counts = rowCounts(0.02);
      for (const t of CRM_TABLES) expect(ca[t]?.rows).toBe(counts[t]);
    },
  );

  it('stores long notes out of line (TOAST), non-ASCII text and JSON on PostgreSQL', async () => {
    const db = await fresh('pg', 'seed_toast');
    await seedCrm(db.url, { scale: 0.05, seed: 1 });
    await withKnex(db.url, async (knex) => {
      const long = await knex('notes')
        .where(knex.raw('length(body) > 6000'))
        .count<{ count: string }[]>('* as count');
      expect(Number(long[0]?.count)).toBeGreaterThan(5);
      const toast = await knex.raw<{ rows: { b: string }[] }>(
        `SELECT pg_relation_size(reltoastrelid) AS b FROM pg_class WHERE relname = 'notes'`,
      );
      expect(Number(toast.rows[0]?.b)).toBeGreaterThan(0);
      const nonAscii = await knex('contacts')
        .where('last_name', 'Müller')
        .orWhere('first_name', 'Zoë')
        .count<{ count: string }[]>('* as count');
      expect(Number(nonAscii[0]?.count)).toBeGreaterThan(0);
      const json = await knex('contacts')
        .whereNotNull('custom_fields')
        .first<{ custom_fields: { score: number } }>('custom_fields');
      expect(typeof json?.custom_fields.score).toBe('number');
      // the sequence was moved past the explicit ids
      const [inserted] = await knex('users').insert(
        {
          email: 'x@example.com',
          full_name: 'X',
          role: 'rep',
          created_at: knex.fn.now(),
          updated_at: knex.fn.now(),
        },
        ['id'],
      );
      expect(Number((inserted as { id: string }).id)).toBe(rowCounts(0.05).users + 1);
    });
  });

  it('grows linearly with scale on PostgreSQL', async () => {
    const [small, large] = await Promise.all([fresh('pg', 'seed_s'), fresh('pg', 'seed_l')]);
    await Promise.all([
      seedCrm(small.url, { scale: 0.05, seed: 3 }),
      seedCrm(large.url, { scale: 0.1, seed: 3 }),
    ]);
    const ratio = totalBytes(await tableBytes(large.url)) / totalBytes(await tableBytes(small.url));
    expect(ratio).toBeGreaterThan(1.7);
    expect(ratio).toBeLessThan(2.3);
  });
});

describe('workload generator', () => {
  const made: TestDatabase[] = [];
  afterAll(async () => {
    await Promise.all(made.map((d) => d.drop()));
  });

  it.each(['pg', 'mysql'] as const)(
    'runs every kind of write on %s and changes the data',
    async (dialect) => {
      const db =
        dialect === 'pg' ? await createPgDatabase('workload') : await createMysqlDatabase('workload');
      made.push(db);
      await seedCrm(db.url, { scale: 0.02, seed: 5 });
      const before = await tableChecksums(db.url);
      const result = await runWorkload(db.url, { ratePerSecond: 5_000, maxOps: 800, seed: 2 });
      expect(result.total).toBe(800);
      for (const op of WORKLOAD_OPS) expect(result.ops[op], op).toBeGreaterThan(0);
      expect(
        result.inserts + result.updates + result.deletes + result.softDeletes + result.transactions,
      ).toBe(800);
      const after = await tableChecksums(db.url);
      for (const t of CRM_TABLES.filter((x) => x !== 'users'))
        expect(after[t]?.md5, t).not.toBe(before[t]?.md5);
    },
  );

  it('keeps roughly to the requested rate and stops on abort', async () => {
    const db = await createPgDatabase('workload_rate');
    made.push(db);
    await seedCrm(db.url, { scale: 0.01, seed: 1 });
    const timed = await runWorkload(db.url, { ratePerSecond: 50, durationMs: 1_000 });
    expect(timed.total).toBeGreaterThanOrEqual(40);
    expect(timed.total).toBeLessThanOrEqual(55);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const aborted = await runWorkload(db.url, { ratePerSecond: 20, signal: ac.signal });
    expect(aborted.ms).toBeLessThan(1_500);
    expect(aborted.total).toBeLessThanOrEqual(10);
  });
});
