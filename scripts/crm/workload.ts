/**
 * runWorkload: a steady stream of realistic CRM writes against a seeded database, at
 * roughly `ratePerSecond` operations per second, until `durationMs` passes, `maxOps` is
 * reached or `signal` aborts. Stopping finishes the current operation and returns counts.
 */
import type { Knex } from 'knex';
import { setTimeout as sleep } from 'node:timers/promises';
import { dialectOf, withKnex } from './connect.js';
import { Prng } from './prng.js';
import { DEFAULT_MIX, WORKLOAD_OPS, runOp, type WorkloadOp, type WorkloadState } from './workload-ops.js';

export { DEFAULT_MIX, WORKLOAD_OPS, type WorkloadOp } from './workload-ops.js';

export interface WorkloadOptions {
  readonly ratePerSecond: number;
  /** Stop after this long (default: run until `signal` or `maxOps`). */
  readonly durationMs?: number;
  readonly signal?: AbortSignal;
  /** Stop after this many operations. */
  readonly maxOps?: number;
  /** Seed of the operation sequence (default 1). */
  readonly seed?: number;
  /** Relative weights; ops not named keep their default weight, 0 disables one. */
  readonly mix?: Partial<Record<WorkloadOp, number>>;
}

export interface WorkloadResult {
  /** Operations run, by kind (a `transaction` counts once). */
  readonly ops: Record<WorkloadOp, number>;
  readonly total: number;
  readonly inserts: number;
  readonly updates: number;
  readonly deletes: number;
  readonly softDeletes: number;
  readonly transactions: number;
  /** Rows changed as reported by the server (cascades not included). */
  readonly rowsChanged: number;
  readonly ms: number;
}

const KIND: Record<WorkloadOp, 'inserts' | 'updates' | 'deletes' | 'softDeletes' | 'transactions'> = {
  insertContact: 'inserts', insertActivity: 'inserts', insertNote: 'inserts', insertEmailEvent: 'inserts', updateDeal: 'updates',
  updateLongNote: 'updates', touchLongNote: 'updates', updateEmailEvents: 'updates', softDeleteContact: 'softDeletes',
  deleteActivity: 'deletes', deleteDeal: 'deletes', deleteEmailEvents: 'deletes', deleteOneEmailEvent: 'deletes', transaction: 'transactions',
};

async function initialState(knex: Knex, seed: number): Promise<WorkloadState> {
  const maxId = { users: 0, accounts: 0, contacts: 0, deals: 0, activities: 0, notes: 0 };
  for (const t of Object.keys(maxId) as (keyof typeof maxId)[]) {
    const row = await knex(t).max<{ m: number | string | null }>('id as m').first();
    maxId[t] = Number(row?.m ?? 0);
  }
  if (maxId.users === 0 || maxId.accounts === 0) {
    throw new Error('the CRM tables are empty; seed them first (npm run seed -- --url URL --scale 0.1).');
  }
  // Deals deleted by an earlier run must not be referenced by this one (the FKs would refuse).
  const deletedDeals = new Set<number>();
  const live = await knex('deals').count<{ n: number | string }[]>('id as n');
  if (Number(live[0]?.n ?? 0) < maxId.deals) {
    const ids = new Set((await knex('deals').select('id')).map((x: { id: number | string }) => Number(x.id)));
    for (let id = 1; id <= maxId.deals; id++) if (!ids.has(id)) deletedDeals.add(id);
  }
  const long = await knex('notes').select('id').whereRaw('LENGTH(body) > 2000').orderBy('id').limit(5000);
  const msgs = await knex('email_events').select('message_id').groupBy('message_id').orderBy('message_id').limit(5000);
  return {
    dialect: dialectOf(knex), r: new Prng(seed), maxId, seq: 0, deletedDeals,
    longNotes: long.map((x: { id: number | string }) => Number(x.id)),
    messages: msgs.map((x: { message_id: string }) => x.message_id),
  };
}

export async function runWorkload(knexOrUrl: Knex | string, opts: WorkloadOptions): Promise<WorkloadResult> {
  if (!(opts.ratePerSecond > 0)) throw new Error(`ratePerSecond is ${String(opts.ratePerSecond)}; it must be a positive number.`);
  if (opts.durationMs === undefined && opts.signal === undefined && opts.maxOps === undefined) {
    throw new Error('runWorkload needs durationMs, maxOps or signal to know when to stop.');
  }
  const weights = WORKLOAD_OPS.map((op) => Math.max(0, opts.mix?.[op] ?? DEFAULT_MIX[op]));
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  if (totalWeight === 0) throw new Error('every operation in the workload mix has weight 0; give at least one a positive weight.');
  const ops = Object.fromEntries(WORKLOAD_OPS.map((op) => [op, 0])) as Record<WorkloadOp, number>;
  let rowsChanged = 0;
  const started = Date.now();
  await withKnex(knexOrUrl, async (knex) => {
    const s = await initialState(knex, opts.seed ?? 1);
    const deadline = opts.durationMs === undefined ? Infinity : started + opts.durationMs;
    let done = 0;
    while (!opts.signal?.aborted && Date.now() < deadline && done < (opts.maxOps ?? Infinity)) {
      const due = ((Date.now() - started) / 1000) * opts.ratePerSecond;
      if (done >= due) {
        const wait = Math.min(50, ((done + 1 - due) / opts.ratePerSecond) * 1000, deadline - Date.now());
        await sleep(Math.max(1, wait), undefined, { signal: opts.signal }).catch(() => undefined);
        continue;
      }
      let x = s.r.next() * totalWeight;
      let i = 0;
      while (i < weights.length - 1 && x >= (weights[i] ?? 0)) x -= weights[i++] ?? 0;
      const op = WORKLOAD_OPS[i] ?? 'updateDeal';
      rowsChanged += await runOp(knex, s, op);
      ops[op]++;
      done++;
    }
  }, 2);
  const sum = (kind: (typeof KIND)[WorkloadOp]): number => WORKLOAD_OPS.filter((op) => KIND[op] === kind).reduce((a, op) => a + ops[op], 0);
  return {
    ops, total: WORKLOAD_OPS.reduce((a, op) => a + ops[op], 0), inserts: sum('inserts'), updates: sum('updates'), deletes: sum('deletes'),
    softDeletes: sum('softDeletes'), transactions: sum('transactions'), rowsChanged, ms: Date.now() - started,
  };
}
