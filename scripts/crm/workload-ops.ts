/**
 * The individual write operations of the workload generator. Each one is a realistic CRM
 * write chosen to exercise change capture: TOASTed columns changed and left unchanged,
 * soft deletes, cascading deletes, and UPDATE/DELETE on the table without a primary key
 * (including deleting one of two identical rows).
 */
import type { Knex } from 'knex';
import type { Dialect } from './connect.js';
import type { Prng } from './prng.js';
import { noteBody, words } from './text.js';
import { formatMicros } from './time.js';
import { DEAL_STAGES } from '../../migrations/crm/20250101000002_contacts_deals.js';

export const WORKLOAD_OPS = [
  'insertContact', 'insertActivity', 'insertNote', 'insertEmailEvent', 'updateDeal', 'updateLongNote', 'touchLongNote',
  'softDeleteContact', 'deleteActivity', 'deleteDeal', 'updateEmailEvents', 'deleteEmailEvents', 'deleteOneEmailEvent', 'transaction',
] as const;
export type WorkloadOp = (typeof WORKLOAD_OPS)[number];

/** Default relative weights; `deleteDeal` cascades to activities and notes (not logged as rows by MySQL). */
export const DEFAULT_MIX: Readonly<Record<WorkloadOp, number>> = {
  insertContact: 10, insertActivity: 15, insertNote: 8, insertEmailEvent: 15, updateDeal: 15, updateLongNote: 4, touchLongNote: 4,
  softDeleteContact: 5, deleteActivity: 5, deleteDeal: 1, updateEmailEvents: 4, deleteEmailEvents: 2, deleteOneEmailEvent: 2, transaction: 10,
};

/** What the workload knows about the database: id ranges and rows it may touch. */
export interface WorkloadState {
  readonly dialect: Dialect;
  readonly r: Prng;
  maxId: Record<'users' | 'accounts' | 'contacts' | 'deals' | 'activities' | 'notes', number>;
  longNotes: number[];
  /** message_id values known to exist (sampled at start, plus the ones inserted). */
  messages: string[];
  readonly deletedDeals: Set<number>;
  seq: number;
}

const now = (s: WorkloadState): string => formatMicros(Date.now() * 1000 + (s.seq++ % 1000), s.dialect);
const pickId = (s: WorkloadState, t: keyof WorkloadState['maxId']): number => s.r.int(1, Math.max(1, s.maxId[t]));

/**
 * A contact id that exists when the statement runs (or NULL): contacts come and go (a test may
 * delete them all), and a dangling id would fail the foreign key.
 */
function existingContact(k: Knex | Knex.Transaction, s: WorkloadState): Knex.Raw {
  return k.raw('(SELECT MIN(id) FROM contacts WHERE id >= ?)', [pickId(s, 'contacts')]);
}

function liveDeal(s: WorkloadState): number | null {
  for (let i = 0; i < 5; i++) {
    const id = pickId(s, 'deals');
    if (!s.deletedDeals.has(id)) return id;
  }
  return null;
}

async function insertId(k: Knex | Knex.Transaction, table: string, row: Record<string, unknown>): Promise<number> {
  // PostgreSQL needs RETURNING; MySQL reports the auto-increment id without it (and warns if asked)
  const pgDialect = String(k.client.config.client) === 'pg';
  const [res] = (await (pgDialect ? k(table).insert(row, ['id']) : k(table).insert(row))) as unknown[];
  return Number(typeof res === 'object' && res !== null ? (res as { id: unknown }).id : res);
}

function stamps(s: WorkloadState): { created_at: string; updated_at: string } {
  const t = now(s);
  return { created_at: t, updated_at: t };
}

async function insertActivity(k: Knex | Knex.Transaction, s: WorkloadState, dealId: number | null): Promise<void> {
  const id = await insertId(k, 'activities', {
    deal_id: dealId, contact_id: s.r.chance(0.5) ? existingContact(k, s) : null, user_id: pickId(s, 'users'),
    kind: s.r.pick(['call', 'email', 'meeting', 'task']), subject: words(s.r, s.r.int(3, 10)), due_at: now(s), ...stamps(s),
  });
  s.maxId.activities = Math.max(s.maxId.activities, id);
}

async function insertNote(k: Knex | Knex.Transaction, s: WorkloadState, dealId: number | null, long: boolean): Promise<void> {
  let body = noteBody(s.r);
  while (long && body.length < 6000) body = noteBody(s.r);
  const id = await insertId(k, 'notes', { author_id: pickId(s, 'users'), deal_id: dealId, account_id: dealId === null ? pickId(s, 'accounts') : null, body, ...stamps(s) });
  s.maxId.notes = Math.max(s.maxId.notes, id);
  if (body.length > 2000) s.longNotes.push(id);
}

/** Runs one operation; returns the number of rows it changed (as reported by the server). */
export async function runOp(knex: Knex, s: WorkloadState, op: WorkloadOp): Promise<number> {
  const r = s.r;
  switch (op) {
    case 'insertContact': {
      const id = await insertId(knex, 'contacts', {
        account_id: pickId(s, 'accounts'), owner_id: pickId(s, 'users'), first_name: 'Workload', last_name: `Ñandú ${r.int(1, 1e6)}`,
        email: `w${r.int(1, 1e9)}@mail.example.org`, custom_fields: JSON.stringify({ source: 'workload', score: r.int(0, 100) }), ...stamps(s),
      });
      s.maxId.contacts = Math.max(s.maxId.contacts, id);
      return 1;
    }
    case 'insertActivity':
      await insertActivity(knex, s, liveDeal(s));
      return 1;
    case 'insertNote':
      await insertNote(knex, s, liveDeal(s), r.chance(0.2));
      return 1;
    case 'insertEmailEvent': {
      // sometimes an exact duplicate of an existing event row, as mail providers do resend
      let msg = s.messages.length > 0 && r.chance(0.5) ? r.pick(s.messages) : '';
      if (!msg) {
        msg = `<w${r.int(1, 1e9)}@mail.example.org>`;
        s.messages.push(msg);
      }
      const row = { message_id: msg, contact_id: existingContact(knex, s), event: 'opened', occurred_at: now(s), payload: null };
      await knex('email_events').insert(r.chance(0.2) ? [row, row] : [row]);
      return 1;
    }
    case 'updateDeal': {
      const stage = r.pick(DEAL_STAGES);
      return knex('deals').where('id', pickId(s, 'deals')).update({
        stage, amount: (r.int(0, 100_000_000) / 100).toFixed(2), probability: stage === 'won' ? 100 : stage === 'lost' ? 0 : r.int(5, 95), updated_at: now(s),
      });
    }
    case 'updateLongNote':
    case 'touchLongNote': {
      const id = s.longNotes.length > 0 ? r.pick(s.longNotes) : pickId(s, 'notes');
      // touch leaves the TOASTed body unchanged: PostgreSQL then logs it as "unchanged toast datum"
      const change = op === 'updateLongNote' ? { body: `${noteBody(r)}\n\n${words(r, 1500)}` } : { pinned: r.chance(0.5) };
      return knex('notes').where('id', id).update({ ...change, updated_at: now(s) });
    }
    case 'softDeleteContact':
      return knex('contacts').where('id', pickId(s, 'contacts')).whereNull('deleted_at').update({ deleted_at: now(s), updated_at: now(s) });
    case 'deleteActivity':
      return knex('activities').where('id', pickId(s, 'activities')).delete();
    case 'deleteDeal': {
      const id = liveDeal(s);
      if (id === null) return 0;
      s.deletedDeals.add(id);
      return knex('deals').where('id', id).delete();
    }
    case 'updateEmailEvents':
      return knex('email_events').where('message_id', messageId(s)).update({ event: 'clicked', payload: JSON.stringify({ at: now(s) }) });
    case 'deleteEmailEvents':
      return knex('email_events').where('message_id', messageId(s)).delete();
    case 'deleteOneEmailEvent': {
      // deletes one of possibly identical rows: replay must not delete its twin
      const msg = messageId(s);
      if (s.dialect === 'mysql') return knex('email_events').where('message_id', msg).limit(1).delete();
      const res = await knex.raw<{ rowCount: number }>('DELETE FROM email_events WHERE ctid = (SELECT ctid FROM email_events WHERE message_id = ? LIMIT 1)', [msg]);
      return res.rowCount;
    }
    case 'transaction':
      return knex.transaction(async (trx) => {
        const account = pickId(s, 'accounts');
        const deal = await insertId(trx, 'deals', {
          account_id: account, owner_id: pickId(s, 'users'), name: `Workload deal ${r.int(1, 1e6)}`, stage: 'lead', amount: '1000.00',
          currency: 'EUR', probability: 10, custom_fields: JSON.stringify({ source: 'workload' }), ...stamps(s),
        });
        s.maxId.deals = Math.max(s.maxId.deals, deal);
        for (let i = 0; i < 3; i++) await insertActivity(trx, s, deal);
        await insertNote(trx, s, deal, r.chance(0.1));
        await trx('accounts').where('id', account).update({ updated_at: now(s) });
        return 6;
      });
  }
}

function messageId(s: WorkloadState): string {
  return s.messages.length > 0 ? s.r.pick(s.messages) : '<none@mail.example.org>';
}
