import type { Knex } from 'knex';
import { dt, json } from '../columns.js';

/**
 * Tracking events from the mail provider. Deliberately WITHOUT a primary key, as in many
 * real CRMs: duplicates are possible, and change capture must cope (PostgreSQL needs
 * REPLICA IDENTITY FULL to log old rows of UPDATE/DELETE; MySQL logs full rows anyway).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('email_events', (t) => {
    t.string('message_id', 255).notNullable();
    t.bigInteger('contact_id').unsigned().nullable();
    t.foreign('contact_id').references('id').inTable('contacts').onDelete('SET NULL');
    t.enu('event', ['sent', 'delivered', 'opened', 'clicked', 'bounced'], { useNative: true, enumName: 'email_event_kind' }).notNullable();
    dt(t, 'occurred_at').notNullable();
    json(t, 'payload').nullable();
    t.index(['contact_id', 'occurred_at'], 'email_events_contact_idx');
    t.index(['message_id'], 'email_events_message_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('email_events');
  if (knex.client.config.client === 'pg') await knex.raw('DROP TYPE IF EXISTS email_event_kind');
}
