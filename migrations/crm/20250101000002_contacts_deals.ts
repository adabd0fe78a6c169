import type { Knex } from 'knex';
import { json, lifecycle, money, ref } from '../columns.js';

export const DEAL_STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'] as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('contacts', (t) => {
    t.bigIncrements('id').primary();
    ref(t, 'account_id', 'accounts', 'SET NULL').nullable();
    ref(t, 'owner_id', 'users').nullable();
    t.string('first_name', 100).notNullable();
    t.string('last_name', 100).notNullable();
    t.string('email', 255).nullable();
    t.string('phone', 40).nullable();
    t.string('title', 150).nullable();
    json(t, 'custom_fields').nullable();
    lifecycle(t);
    t.index(['email'], 'contacts_email_idx');
    t.index(['last_name', 'first_name'], 'contacts_name_idx');
  });
  await knex.schema.createTable('deals', (t) => {
    t.bigIncrements('id').primary();
    ref(t, 'account_id', 'accounts').notNullable();
    ref(t, 'contact_id', 'contacts', 'SET NULL').nullable();
    ref(t, 'owner_id', 'users').notNullable();
    t.string('name', 255).notNullable();
    t.enu('stage', [...DEAL_STAGES], { useNative: true, enumName: 'deal_stage' }).notNullable();
    money(t, 'amount').notNullable();
    t.string('currency', 3).notNullable();
    t.smallint('probability').notNullable();
    t.date('expected_close_date').nullable();
    t.timestamp('closed_at', { useTz: true, precision: 6 }).nullable();
    json(t, 'custom_fields').nullable();
    lifecycle(t);
    t.check('?? >= 0', ['amount'], 'deals_amount_check');
    t.check('?? BETWEEN 0 AND 100', ['probability'], 'deals_probability_check');
    t.index(['stage', 'expected_close_date'], 'deals_stage_close_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('deals');
  await knex.schema.dropTable('contacts');
  if (knex.client.config.client === 'pg') await knex.raw('DROP TYPE IF EXISTS deal_stage');
}
