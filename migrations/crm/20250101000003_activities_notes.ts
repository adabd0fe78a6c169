import type { Knex } from 'knex';
import { dt, lifecycle, ref } from '../columns.js';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('activities', (t) => {
    t.bigIncrements('id').primary();
    // deleting a deal deletes its activities: on MySQL the cascade is NOT in the binlog
    ref(t, 'deal_id', 'deals', 'CASCADE').nullable();
    ref(t, 'contact_id', 'contacts', 'SET NULL').nullable();
    ref(t, 'user_id', 'users').notNullable();
    t.enu('kind', ['call', 'email', 'meeting', 'task'], { useNative: true, enumName: 'activity_kind' }).notNullable();
    t.string('subject', 255).notNullable();
    dt(t, 'due_at').nullable();
    dt(t, 'completed_at').nullable();
    t.integer('duration_seconds').nullable();
    lifecycle(t);
    t.index(['user_id', 'due_at'], 'activities_user_due_idx');
  });
  await knex.schema.createTable('notes', (t) => {
    t.bigIncrements('id').primary();
    ref(t, 'author_id', 'users').notNullable();
    ref(t, 'account_id', 'accounts', 'CASCADE').nullable();
    ref(t, 'contact_id', 'contacts', 'CASCADE').nullable();
    ref(t, 'deal_id', 'deals', 'CASCADE').nullable();
    t.string('title', 200).nullable();
    // long notes (> 2 KB) are TOASTed on PostgreSQL; mediumtext on MySQL allows up to 16 MB
    t.text('body', 'mediumtext').notNullable();
    t.boolean('pinned').notNullable().defaultTo(false);
    lifecycle(t);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('notes');
  await knex.schema.dropTable('activities');
  if (knex.client.config.client === 'pg') await knex.raw('DROP TYPE IF EXISTS activity_kind');
}
