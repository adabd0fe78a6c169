/**
 * The stream's own table on the source: `crmb.heartbeat`, one row per stream keyed by its source
 * name. While the source is idle the change log updates its row now and then (src/driver/idle.ts),
 * and the commit of that update, found in the binlog, proves with its commit time that the log is
 * complete up to then (transaction-assembly.ts passes it on as a 0-change internal transaction).
 *
 * Every change made to the source is reported as one line (what, and why), and undone by
 * `dropMarker`: the row goes, and the table and database go with the last stream's row.
 */
import type mysql from 'mysql2/promise';

export const MARKER_DATABASE = 'crmb';
export const MARKER_TABLE = 'heartbeat';
const QUALIFIED = `\`${MARKER_DATABASE}\`.\`${MARKER_TABLE}\``;

/** Creates database, table and this stream's row when missing; one line per thing created. */
export async function ensureMarker(conn: mysql.Connection): Promise<string[]> {
  const lines: string[] = [];
  const [dbs] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [MARKER_DATABASE],
  );
  if (!dbs.length) {
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${MARKER_DATABASE}\` CHARACTER SET utf8mb4`);
    lines.push(
      `Created database ${MARKER_DATABASE} on the source, for the stream's idle markers; "stream --drop" removes it with the last stream.`,
    );
  }
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [MARKER_DATABASE, MARKER_TABLE],
  );
  if (!tables.length) {
    await conn.query(
      `CREATE TABLE IF NOT EXISTS ${QUALIFIED} (source VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB`,
    );
    lines.push(
      `Created table ${MARKER_DATABASE}.${MARKER_TABLE} on the source: while the database is idle the stream updates its row every few seconds, so the log keeps proving how far a restore can go; "stream --drop" removes it.`,
    );
  }
  return lines;
}

/** Commits one marker: the update of this stream's row (inserted the first time). */
export async function writeMarker(conn: mysql.Connection, sourceName: string): Promise<void> {
  await conn.query(
    `INSERT INTO ${QUALIFIED} (source, at) VALUES (?, NOW(6)) ON DUPLICATE KEY UPDATE at = NOW(6)`,
    [sourceName],
  );
}

/** Removes this stream's row, and the table and database when no other stream's row is left. */
export async function dropMarker(conn: mysql.Connection, sourceName: string): Promise<string[]> {
  const lines: string[] = [];
  const [tables] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
    [MARKER_DATABASE, MARKER_TABLE],
  );
  if (tables.length) {
    const [res] = await conn.query<mysql.ResultSetHeader>(`DELETE FROM ${QUALIFIED} WHERE source = ?`, [
      sourceName,
    ]);
    if (res.affectedRows)
      lines.push(`Deleted the idle-marker row of this stream from ${MARKER_DATABASE}.${MARKER_TABLE}.`);
    const [left] = await conn.query<mysql.RowDataPacket[]>(`SELECT source FROM ${QUALIFIED} ORDER BY source`);
    if (left.length) {
      lines.push(
        `Kept table ${MARKER_DATABASE}.${MARKER_TABLE}: the stream(s) ${left.map((r) => String(r.source)).join(', ')} still use it.`,
      );
      return lines;
    }
    await conn.query(`DROP TABLE ${QUALIFIED}`);
    lines.push(`Dropped table ${MARKER_DATABASE}.${MARKER_TABLE}.`);
  }
  const [others] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
    [MARKER_DATABASE],
  );
  const [dbs] = await conn.query<mysql.RowDataPacket[]>(
    'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [MARKER_DATABASE],
  );
  if (dbs.length && Number(others[0]?.n ?? 0) === 0) {
    await conn.query(`DROP DATABASE \`${MARKER_DATABASE}\``);
    lines.push(`Dropped database ${MARKER_DATABASE}.`);
  }
  return lines;
}
