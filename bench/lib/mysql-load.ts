/**
 * The stream's write load on MySQL/MariaDB, as load.ts on PostgreSQL: `UPDATE contacts SET
 * updated_at = NOW(6)` over 100-id ranges, paced to a target of row changes per second across
 * several connections, each on its own slice of ids (no lock waits, no deadlocks). NOW(6)
 * differs from every stored value, so every matched row is changed and logged: the affected
 * row count is the exact number of row changes the binlog holds.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import type { LoadOptions, LoadResult } from './load.js';
import { myQuery } from './mysql.js';

export async function runMysqlUpdateLoad(url: string, opts: LoadOptions): Promise<LoadResult> {
  const width = opts.rowsPerStatement ?? 100;
  const [range] = await myQuery<{ lo: string | null; hi: string | null }>(url, 'SELECT min(id) AS lo, max(id) AS hi FROM contacts');
  const lo = Number(range?.lo ?? 0);
  const hi = Number(range?.hi ?? -1);
  if (hi - lo + 1 < width) throw new Error(`contacts has ${hi - lo + 1} rows; the load needs at least ${width}.`);
  const connections = Math.max(1, Math.min(opts.connections, Math.floor((hi - lo + 1) / width)));
  const slice = Math.floor((hi - lo + 1) / connections);
  // statement k of the whole load is due at k * interval; each connection takes every n-th slot
  const intervalMs = (1000 * width) / opts.rate;
  const started = performance.now();
  const endAt = started + opts.seconds * 1000;
  let changes = 0;
  let statements = 0;

  const worker = async (n: number): Promise<void> => {
    const c = await mysql.createConnection({ uri: url });
    try {
      await c.query(`SET time_zone = '+00:00'`);
      const first = lo + n * slice;
      const last = first + slice - width; // highest start id that keeps the range in the slice
      for (let k = n; ; k += connections) {
        const due = started + k * intervalMs;
        // a machine that cannot keep up stops on time too: the achieved rate is the figure
        if (due >= endAt || performance.now() >= endAt) break;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const from = first + Math.floor(Math.random() * (last - first + 1));
        const [r] = await c.query('UPDATE contacts SET updated_at = NOW(6) WHERE id BETWEEN ? AND ?', [from, from + width - 1]);
        changes += (r as mysql.ResultSetHeader).affectedRows;
        statements++;
      }
    } finally {
      await c.end();
    }
  };
  await Promise.all(Array.from({ length: connections }, (_, n) => worker(n)));
  const seconds = (performance.now() - started) / 1000;
  return { changes, statements, seconds, changesPerSecond: changes / seconds };
}
