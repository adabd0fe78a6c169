/** On-disk size of a database's user tables: data + indexes (+ TOAST on PostgreSQL). */
import pg from 'pg';
import mysql from 'mysql2/promise';
import { dialectOfUrl } from './connect.js';

export async function tableBytes(url: string): Promise<Record<string, number>> {
  if (dialectOfUrl(url) === 'pg') {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const r = await c.query<{ t: string; b: string }>(
        `SELECT tablename AS t, pg_total_relation_size(format('%I.%I', schemaname, tablename)) AS b FROM pg_tables WHERE schemaname = 'public'`,
      );
      return Object.fromEntries(r.rows.map((x) => [x.t, Number(x.b)]));
    } finally {
      await c.end();
    }
  }
  const c = await mysql.createConnection({ uri: url });
  try {
    // InnoDB statistics are estimates until analysed
    const [tables] = await c.query('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()');
    for (const { t } of tables as { t: string }[]) await c.query(`ANALYZE TABLE \`${t}\``);
    const [rows] = await c.query(
      'SELECT TABLE_NAME AS t, DATA_LENGTH + INDEX_LENGTH AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()',
    );
    return Object.fromEntries((rows as { t: string; b: number }[]).map((x) => [x.t, Number(x.b)]));
  } finally {
    await c.end();
  }
}

export function totalBytes(sizes: Record<string, number>): number {
  return Object.values(sizes).reduce((a, b) => a + b, 0);
}
