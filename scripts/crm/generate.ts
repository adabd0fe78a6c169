/**
 * Deterministic row generators for the CRM tables. Counts scale linearly; every value
 * comes from a per-table PRNG stream, so the same (scale, seed) gives the same rows.
 */
import type { CrmTable } from '../../migrations/knex-config.js';
import type { Dialect } from './connect.js';
import { Prng } from './prng.js';
import { COUNTRIES, INDUSTRIES, company, domainOf, email, firstName, lastName, noteBody, title, words } from './text.js';
import { MICROS_PER_DAY, baseMicros, formatDate, formatMicros } from './time.js';
import { DEAL_STAGES } from '../../migrations/crm/20250101000002_contacts_deals.js';

export type Row = Record<string, string | number | boolean | null>;

/** Rows per table at scale 1 (about 50 MB of PostgreSQL table + index + TOAST data). */
export const ROWS_AT_SCALE_1: Readonly<Record<CrmTable, number>> = {
  users: 250,
  accounts: 7_000,
  contacts: 26_000,
  deals: 13_000,
  activities: 52_000,
  notes: 17_000,
  email_events: 70_000,
};

export function rowCounts(scale: number): Record<CrmTable, number> {
  const out = {} as Record<CrmTable, number>;
  for (const [t, n] of Object.entries(ROWS_AT_SCALE_1) as [CrmTable, number][]) out[t] = Math.max(t === 'users' ? 3 : 1, Math.round(n * scale));
  return out;
}

interface Ctx {
  readonly seed: number;
  readonly counts: Record<CrmTable, number>;
  readonly dialect: Dialect;
}

const SPAN_DAYS = 5 * 365;

function lifecycle(r: Prng, ctx: Ctx, pDeleted: number): { created_at: string; updated_at: string; deleted_at: string | null } {
  const created = baseMicros(ctx.seed) + r.int(0, SPAN_DAYS) * MICROS_PER_DAY + r.int(0, MICROS_PER_DAY - 1);
  const updated = created + r.int(0, 90) * MICROS_PER_DAY + r.int(0, 3_600_000_000);
  const deleted = r.chance(pDeleted) ? updated + r.int(1, 30) * MICROS_PER_DAY : null;
  const f = (m: number): string => formatMicros(m, ctx.dialect);
  return { created_at: f(created), updated_at: f(updated), deleted_at: deleted === null ? null : f(deleted) };
}

function customFields(r: Prng): string | null {
  if (r.chance(0.3)) return null;
  const fields: Record<string, unknown> = { source: r.pick(['web', 'referral', 'event', 'cold call', 'partner']), score: r.int(0, 100) };
  if (r.chance(0.5)) fields.tags = Array.from({ length: r.int(1, 4) }, () => r.pick(['vip', 'churn-risk', 'upsell', 'eu', 'apac', 'größe']));
  if (r.chance(0.3)) fields.nested = { region: r.pick(COUNTRIES), renewal: r.chance(0.5), note: words(r, r.int(2, 8)) };
  return JSON.stringify(fields);
}

const money = (r: Prng, max: number): string => (r.int(0, max * 100) / 100).toFixed(2);

type Gen = (r: Prng, id: number, ctx: Ctx) => Row;

const GENERATORS: Record<CrmTable, Gen> = {
  users: (r, id, ctx) => {
    const f = firstName(r);
    const l = lastName(r);
    return {
      id, email: email(f, l, id, 'crm.example.com'), full_name: `${f} ${l}`, role: id === 1 ? 'admin' : r.pick(['manager', 'rep', 'rep', 'rep']),
      locale: r.maybe(0.2, () => r.pick(['en-US', 'de-DE', 'fr-FR', 'ja-JP', 'pl-PL'])), is_active: r.chance(0.9),
      settings: r.maybe(0.4, () => JSON.stringify({ theme: r.pick(['light', 'dark']), digest: r.chance(0.5) })),
      ...lifecycle(r, ctx, 0.02),
    };
  },
  accounts: (r, id, ctx) => {
    const name = company(r, id);
    return {
      id, owner_id: r.int(1, ctx.counts.users), name, domain: r.maybe(0.1, () => domainOf(name)), industry: r.maybe(0.15, () => r.pick(INDUSTRIES)),
      employee_count: r.maybe(0.2, () => r.int(1, 50_000)), annual_revenue: r.maybe(0.3, () => money(r, 500_000_000)),
      country: r.maybe(0.05, () => r.pick(COUNTRIES)), custom_fields: customFields(r), ...lifecycle(r, ctx, 0.03),
    };
  },
  contacts: (r, id, ctx) => {
    const f = firstName(r);
    const l = lastName(r);
    return {
      id, account_id: r.maybe(0.05, () => r.int(1, ctx.counts.accounts)), owner_id: r.maybe(0.1, () => r.int(1, ctx.counts.users)),
      first_name: f, last_name: l, email: r.maybe(0.08, () => email(f, l, id, 'mail.example.org')),
      phone: r.maybe(0.3, () => `+${r.int(1, 99)} ${r.int(100, 999)} ${r.int(1000000, 9999999)}`), title: r.maybe(0.4, () => title(r)),
      custom_fields: customFields(r), ...lifecycle(r, ctx, 0.04),
    };
  },
  deals: (r, id, ctx) => {
    const stage = r.pick(DEAL_STAGES);
    const life = lifecycle(r, ctx, 0.02);
    return {
      id, account_id: r.int(1, ctx.counts.accounts), contact_id: r.maybe(0.2, () => r.int(1, ctx.counts.contacts)), owner_id: r.int(1, ctx.counts.users),
      name: `${words(r, r.int(2, 5))} #${id}`, stage, amount: money(r, 2_000_000), currency: r.pick(['USD', 'EUR', 'GBP', 'JPY', 'PLN']),
      probability: stage === 'won' ? 100 : stage === 'lost' ? 0 : r.int(5, 95),
      expected_close_date: r.maybe(0.1, () => formatDate(baseMicros(ctx.seed) + r.int(0, SPAN_DAYS + 365) * MICROS_PER_DAY)),
      closed_at: stage === 'won' || stage === 'lost' ? life.updated_at : null, custom_fields: customFields(r), ...life,
    };
  },
  activities: (r, id, ctx) => {
    const life = lifecycle(r, ctx, 0.01);
    const due = baseMicros(ctx.seed) + r.int(0, SPAN_DAYS) * MICROS_PER_DAY + r.int(0, MICROS_PER_DAY - 1);
    return {
      id, deal_id: r.maybe(0.3, () => r.int(1, ctx.counts.deals)), contact_id: r.maybe(0.2, () => r.int(1, ctx.counts.contacts)),
      user_id: r.int(1, ctx.counts.users), kind: r.pick(['call', 'email', 'meeting', 'task']), subject: words(r, r.int(3, 10)),
      due_at: r.maybe(0.3, () => formatMicros(due, ctx.dialect)), completed_at: r.maybe(0.5, () => formatMicros(due + r.int(0, 7 * MICROS_PER_DAY), ctx.dialect)),
      duration_seconds: r.maybe(0.4, () => r.int(60, 7_200)), ...life,
    };
  },
  notes: (r, id, ctx) => {
    const parent = r.int(0, 2);
    return {
      id, author_id: r.int(1, ctx.counts.users), account_id: parent === 0 ? r.int(1, ctx.counts.accounts) : null,
      contact_id: parent === 1 ? r.int(1, ctx.counts.contacts) : null, deal_id: parent === 2 ? r.int(1, ctx.counts.deals) : null,
      title: r.maybe(0.5, () => words(r, r.int(2, 6))), body: noteBody(r), pinned: r.chance(0.05), ...lifecycle(r, ctx, 0.03),
    };
  },
  email_events: (r, id, ctx) => {
    // a message has several events; rows repeat message_id and can be exact duplicates
    const message = Math.floor((id - 1) / 3) + 1;
    const occurred = baseMicros(ctx.seed) + r.int(0, SPAN_DAYS) * MICROS_PER_DAY + r.int(0, MICROS_PER_DAY - 1);
    return {
      message_id: `<${message}.${ctx.seed}@mail.example.org>`, contact_id: r.maybe(0.05, () => r.int(1, ctx.counts.contacts)),
      event: r.pick(['sent', 'delivered', 'opened', 'opened', 'clicked', 'bounced']), occurred_at: formatMicros(occurred, ctx.dialect),
      payload: r.maybe(0.3, () => JSON.stringify({ ip: `203.0.113.${r.int(1, 254)}`, ua: r.pick(['Mozilla/5.0', 'Outlook', 'Gmail']), url: r.chance(0.5) ? `https://example.com/p/${r.int(1, 9999)}` : null })),
    };
  },
};

/** Yields the rows of `table` in batches of `batchSize`. */
export function* generateRows(table: CrmTable, ctx: Ctx, batchSize: number): Generator<Row[]> {
  const r = Prng.for(ctx.seed, table);
  const gen = GENERATORS[table];
  let batch: Row[] = [];
  for (let id = 1; id <= ctx.counts[table]; id++) {
    batch.push(gen(r, id, ctx));
    if (batch.length === batchSize) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}
