import type { Knex } from 'knex';
import { json, lifecycle, money, ref } from '../columns.js';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('users', (t) => {
    t.bigIncrements('id').primary();
    t.string('email', 255).notNullable().unique('users_email_unique');
    t.string('full_name', 200).notNullable();
    t.enu('role', ['admin', 'manager', 'rep'], { useNative: true, enumName: 'user_role' }).notNullable();
    t.string('locale', 16).nullable();
    t.boolean('is_active').notNullable().defaultTo(true);
    json(t, 'settings').nullable();
    lifecycle(t);
  });
  await knex.schema.createTable('accounts', (t) => {
    t.bigIncrements('id').primary();
    ref(t, 'owner_id', 'users').notNullable();
    t.string('name', 255).notNullable();
    t.string('domain', 255).nullable();
    t.string('industry', 100).nullable();
    t.integer('employee_count').nullable();
    money(t, 'annual_revenue').nullable();
    t.string('country', 2).nullable();
    json(t, 'custom_fields').nullable();
    lifecycle(t);
    t.index(['owner_id'], 'accounts_owner_idx');
    t.index(['name'], 'accounts_name_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('accounts');
  await knex.schema.dropTable('users');
  if (knex.client.config.client === 'pg') await knex.raw('DROP TYPE IF EXISTS user_role');
}
