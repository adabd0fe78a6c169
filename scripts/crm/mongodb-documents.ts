/**
 * The reference CRM as MongoDB documents: the same deterministic rows as on PostgreSQL and MySQL
 * (generate.ts, one PRNG stream per table), each turned into a document whose BSON types are
 * chosen, never left to how a JavaScript number happens to serialize:
 *  - `_id`: int32 (users, accounts, contacts, deals, notes), int64 (activities), an ObjectId
 *    built from the event's time and its row number (email_events, which has no key in SQL);
 *  - references, counts and durations: int32; money (`amount`, `annual_revenue`): Decimal128;
 *    `probability`: a double in [0, 1] (the SQL column's percent / 100);
 *  - times: BSON dates (milliseconds: the SQL rows' microseconds are cut); `expected_close_date`:
 *    midnight UTC of that day;
 *  - JSON columns (`custom_fields`, `settings`, `payload`): embedded documents, integers int32,
 *    other numbers doubles;
 *  - NULL stays BSON null, except `deleted_at`, left out when the row is not deleted (as a
 *    MongoDB application would), so the data has both missing fields and nulls.
 * The collections' secondary indexes are those of the SQL migrations.
 */
import { Decimal128, Double, Int32, Long, ObjectId, type Document } from 'mongodb';
import type { CrmTable } from '../../migrations/knex-config.js';
import { generateRows, type Row } from './generate.js';

type Convert = (row: Row, id: number, seed: number) => Document;
/** A row's value as read by name; undefined means a misspelt column, which must not pass for NULL. */
type Value = Row[string] | undefined;
function isNull(v: Value): v is null {
  if (v === undefined) throw new Error('a column the generated row does not have');
  return v === null;
}

const int = (v: Value): Int32 | null => (isNull(v) ? null : new Int32(Number(v)));
const dec = (v: Value): Decimal128 | null => (isNull(v) ? null : Decimal128.fromString(String(v)));
const str = (v: Value): string | null => (isNull(v) ? null : String(v));
/** `2021-03-04 05:06:07.123456+00` (the PostgreSQL form generate.ts writes) as a BSON date. */
const date = (v: Value): Date | null => (isNull(v) ? null : new Date(`${String(v).slice(0, 23).replace(' ', 'T')}Z`));
/** `2021-03-04` as midnight UTC. */
const day = (v: Value): Date | null => (isNull(v) ? null : new Date(`${String(v)}T00:00:00.000Z`));

/** A JSON value with explicit BSON number types: int32 for integers that fit, int64 beyond, double otherwise. */
function bsonOf(v: unknown): unknown {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) return new Double(v);
    return v >= -0x8000_0000 && v <= 0x7fff_ffff ? new Int32(v) : Long.fromNumber(v);
  }
  if (Array.isArray(v)) return v.map(bsonOf);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, bsonOf(x)]));
  return v;
}
const json = (v: Value): unknown => (isNull(v) ? null : bsonOf(JSON.parse(String(v))));

/** created_at, updated_at, and deleted_at only when set. */
function lifecycle(r: Row): Document {
  const out: Document = { created_at: date(r.created_at), updated_at: date(r.updated_at) };
  if (r.deleted_at !== null && r.deleted_at !== undefined) out.deleted_at = date(r.deleted_at);
  return out;
}

/** 4 bytes of the event's seconds, 4 of the seed, 4 of the row number: unique, and the same every run. */
function eventId(occurred: Date, seed: number, id: number): ObjectId {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(Math.floor(occurred.getTime() / 1000) >>> 0, 0);
  b.writeUInt32BE(seed >>> 0, 4);
  b.writeUInt32BE(id >>> 0, 8);
  return new ObjectId(b);
}

const CONVERT: Record<CrmTable, Convert> = {
  users: (r, id) => ({
    _id: new Int32(id), email: r.email, full_name: r.full_name, role: r.role, locale: str(r.locale),
    is_active: Boolean(r.is_active), settings: json(r.settings), ...lifecycle(r),
  }),
  accounts: (r, id) => ({
    _id: new Int32(id), owner_id: int(r.owner_id), name: r.name, domain: str(r.domain), industry: str(r.industry),
    employee_count: int(r.employee_count), annual_revenue: dec(r.annual_revenue), country: str(r.country),
    custom_fields: json(r.custom_fields), ...lifecycle(r),
  }),
  contacts: (r, id) => ({
    _id: new Int32(id), account_id: int(r.account_id), owner_id: int(r.owner_id), first_name: r.first_name, last_name: r.last_name,
    email: str(r.email), phone: str(r.phone), title: str(r.title), custom_fields: json(r.custom_fields), ...lifecycle(r),
  }),
  deals: (r, id) => ({
    _id: new Int32(id), account_id: int(r.account_id), contact_id: int(r.contact_id), owner_id: int(r.owner_id), name: r.name,
    stage: r.stage, amount: dec(r.amount), currency: r.currency, probability: new Double(Number(r.probability) / 100),
    expected_close_date: day(r.expected_close_date), closed_at: date(r.closed_at), custom_fields: json(r.custom_fields), ...lifecycle(r),
  }),
  activities: (r, id) => ({
    _id: Long.fromNumber(id), deal_id: int(r.deal_id), contact_id: int(r.contact_id), user_id: int(r.user_id), kind: r.kind,
    subject: r.subject, due_at: date(r.due_at), completed_at: date(r.completed_at), duration_seconds: int(r.duration_seconds), ...lifecycle(r),
  }),
  notes: (r, id) => ({
    _id: new Int32(id), author_id: int(r.author_id), account_id: int(r.account_id), contact_id: int(r.contact_id), deal_id: int(r.deal_id),
    title: str(r.title), body: r.body, pinned: Boolean(r.pinned), ...lifecycle(r),
  }),
  email_events: (r, id, seed) => {
    const occurred = date(r.occurred_at) as Date;
    return {
      _id: eventId(occurred, seed, id), message_id: r.message_id, contact_id: int(r.contact_id), event: r.event,
      occurred_at: occurred, payload: json(r.payload),
    };
  },
};

/** Yields the documents of `table` in batches; `counts` from rowCounts(scale). */
export function* generateDocuments(
  table: CrmTable,
  ctx: { readonly seed: number; readonly counts: Record<CrmTable, number> },
  batchSize: number,
): Generator<Document[]> {
  let id = 0;
  for (const rows of generateRows(table, { ...ctx, dialect: 'pg' }, batchSize)) yield rows.map((r) => CONVERT[table](r, ++id, ctx.seed));
}

/** The secondary indexes of the SQL migrations (users' unique e-mail included). */
export const MONGO_CRM_INDEXES: Readonly<Record<CrmTable, ReadonlyArray<{ name: string; key: Readonly<Record<string, 1>>; unique?: boolean }>>> = {
  users: [{ name: 'users_email_unique', key: { email: 1 }, unique: true }],
  accounts: [
    { name: 'accounts_owner_idx', key: { owner_id: 1 } },
    { name: 'accounts_name_idx', key: { name: 1 } },
  ],
  contacts: [
    { name: 'contacts_email_idx', key: { email: 1 } },
    { name: 'contacts_name_idx', key: { last_name: 1, first_name: 1 } },
  ],
  deals: [{ name: 'deals_stage_close_idx', key: { stage: 1, expected_close_date: 1 } }],
  activities: [{ name: 'activities_user_due_idx', key: { user_id: 1, due_at: 1 } }],
  notes: [],
  email_events: [
    { name: 'email_events_contact_idx', key: { contact_id: 1, occurred_at: 1 } },
    { name: 'email_events_message_idx', key: { message_id: 1 } },
  ],
};
