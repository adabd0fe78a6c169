/**
 * seedCrm: migrates and fills the reference CRM schema with deterministic data. Scale 1 is
 * about 50 MB on PostgreSQL; sizes grow linearly with scale (fractions allowed).
 */
import type { Knex } from 'knex';
import { CRM_TABLES, type CrmTable } from '../../migrations/knex-config.js';
import { dialectOf, withKnex } from './connect.js';
import { generateRows, rowCounts } from './generate.js';

export interface SeedOptions {
  /** 1 = about 50 MB; 0.02 is a fast test fixture. */
  readonly scale: number;
  /** PRNG seed (default 1). */
  readonly seed?: number;
  /** Rows per INSERT statement (default 1000). */
  readonly batchSize?: number;
  /** Run the CRM migrations first (default true). */
  readonly migrate?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (table: CrmTable, rows: number) => void;
}

export interface SeedResult {
  readonly rows: Record<CrmTable, number>;
  readonly ms: number;
}

/** Seeds an empty CRM database at `knexOrUrl`; the tables must be empty (ids are explicit). */
export async function seedCrm(knexOrUrl: Knex | string, opts: SeedOptions): Promise<SeedResult> {
  if (!(opts.scale > 0)) throw new Error(`scale is ${String(opts.scale)}; it must be a positive number such as 0.1 or 1.`);
  const started = Date.now();
  const counts = rowCounts(opts.scale);
  const seed = opts.seed ?? 1;
  const batchSize = opts.batchSize ?? 1000;
  await withKnex(knexOrUrl, async (knex) => {
    if (opts.migrate ?? true) await knex.migrate.latest();
    const dialect = dialectOf(knex);
    for (const table of CRM_TABLES) {
      const row = await knex(table).first(knex.raw('1 AS x'));
      if (row !== undefined) throw new Error(`table "${table}" already has rows; seed into an empty database (ids are fixed, so rows would collide).`);
    }
    for (const table of CRM_TABLES) {
      await knex.transaction(async (trx) => {
        for (const batch of generateRows(table, { seed, counts, dialect }, batchSize)) {
          opts.signal?.throwIfAborted();
          await trx.insert(batch).into(table);
        }
        // explicit ids leave the sequence behind; later inserts (workload) must not collide
        if (dialect === 'pg' && table !== 'email_events') {
          await trx.raw(`SELECT setval(pg_get_serial_sequence(?, 'id'), (SELECT max(id) FROM ??))`, [table, table]);
        }
      });
      opts.onProgress?.(table, counts[table]);
    }
  });
  return { rows: counts, ms: Date.now() - started };
}
