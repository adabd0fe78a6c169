/**
 * seedShapes: creates the `shapes` schema in an empty PostgreSQL database and fills it with COPY
 * (the rows of generate.ts), then builds the secondary indexes, foreign keys and the view, and
 * moves the identity columns and the standalone sequence past the seeded values so that later
 * inserts (the write load, a restore's users) do not collide.
 */
import pg from 'pg';
import { copyIn } from '../../../drivers/postgres/internal/load.js';
import { shapesCopyChunks, SHAPES_COLUMNS, shapesRowCounts } from './generate.js';
import { SHAPES_AFTER_LOAD_SQL, SHAPES_TABLES, SHAPES_TABLES_SQL, type ShapesTable } from './schema.js';

export interface ShapesSeedOptions {
  /** 1 ≈ 47 MB of COPY data; the benchmark's 22 ≈ 1 GB. */
  readonly scale: number;
  /** PRNG seed (default 1). */
  readonly seed?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (table: string, rows: number) => void;
}

export interface ShapesSeedResult {
  readonly rows: Record<ShapesTable, number>;
  /** Bytes of COPY text sent. */
  readonly bytes: number;
  readonly ms: number;
}

async function* chunks(table: ShapesTable, seed: number, counts: Record<ShapesTable, number>): AsyncGenerator<Uint8Array> {
  yield* shapesCopyChunks(table, { seed, counts });
}

export async function seedShapes(url: string, opts: ShapesSeedOptions): Promise<ShapesSeedResult> {
  if (!(opts.scale > 0)) throw new Error(`scale is ${String(opts.scale)}; it must be a positive number such as 0.1 or 1.`);
  const started = Date.now();
  const counts = shapesRowCounts(opts.scale);
  const seed = opts.seed ?? 1;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let bytes = 0;
  try {
    const existing = await client.query(`SELECT 1 FROM pg_class WHERE relname = 'companies' AND relnamespace = 'public'::regnamespace`);
    if (existing.rowCount) throw new Error('table "companies" already exists; seed the shapes dataset into an empty database.');
    await client.query(SHAPES_TABLES_SQL);
    for (const table of SHAPES_TABLES) {
      opts.signal?.throwIfAborted();
      const cols = SHAPES_COLUMNS[table].map((c) => pg.escapeIdentifier(c)).join(', ');
      const stats = await copyIn(client, `COPY ${pg.escapeIdentifier(table)} (${cols}) FROM STDIN`, chunks(table, seed, counts), { signal: opts.signal });
      bytes += stats.bytes;
      opts.onProgress?.(table, counts[table]);
    }
    await client.query(SHAPES_AFTER_LOAD_SQL);
    await client.query(`
      SELECT setval(pg_get_serial_sequence('contacts', 'id'), (SELECT max(id) FROM contacts));
      SELECT setval(pg_get_serial_sequence('activities', 'id'), (SELECT max(id) FROM activities));
      SELECT setval('invoice_number_seq', (SELECT max(invoice_no) FROM deals));`);
  } finally {
    await client.end();
  }
  return { rows: counts, bytes, ms: Date.now() - started };
}
