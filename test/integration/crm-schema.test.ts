import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlDatabase, createPgDatabase, type TestDatabase } from '../harness/index.js';
import { migrateCrm } from '../../scripts/crm/connect.js';
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
    expect(s.deals?.columns.find((c) => c.name === 'stage')?.type).toBe('enum(lead,qualified,proposal,negotiation,won,lost)');
    expect(s.deals?.columns.find((c) => c.name === 'amount')?.type).toBe('decimal(14,2)');
    expect(s.contacts?.columns.find((c) => c.name === 'custom_fields')?.type).toBe('json');
    expect(s.notes?.columns.find((c) => c.name === 'deleted_at')).toEqual({ name: 'deleted_at', type: 'timestamptz(6)', nullable: true });
    expect(s.activities?.foreignKeys).toContain('deal_id -> deals.id');
  });

  it('migrates idempotently and rolls back cleanly', async () => {
    await migrateCrm(pgDb.url);
    const { withKnex } = await import('../../scripts/crm/connect.js');
    for (const url of [pgDb.url, myDb.url]) {
      await withKnex(url, async (knex) => {
        await knex.migrate.rollback(undefined, true);
        expect(Object.keys(await logicalSchema(knex))).toEqual([]);
        await knex.migrate.latest();
      });
    }
  });
});
