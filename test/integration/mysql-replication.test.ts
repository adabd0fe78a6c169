/**
 * The binlog replication session on its own against the harness MariaDB: events arrive whole
 * (also those larger than one 16 MiB protocol packet), and a consumer that does not read holds the
 * server back instead of filling memory.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinlogSession, replicaServerId } from '../../drivers/mysql/internal/replication.js';
import { createMysqlDatabase, type TestDatabase } from '../harness/databases.js';

describe('MySQL/MariaDB binlog replication session', () => {
  let db: TestDatabase;
  let conn: mysql.Connection;
  beforeAll(async () => {
    db = await createMysqlDatabase('myrepl');
    conn = await mysql.createConnection({ uri: db.url });
    await conn.query('CREATE TABLE blobs (id INT PRIMARY KEY, b LONGBLOB)');
  });
  afterAll(async () => {
    await conn?.end();
    await db?.drop();
  });

  it('delivers events larger than a protocol packet whole, and pauses the socket while the consumer waits', async () => {
    const [st] = await conn.query<mysql.RowDataPacket[]>('SHOW MASTER STATUS');
    const [[own]] = await conn.query<mysql.RowDataPacket[]>('SELECT @@server_id AS id');
    const u = new URL(db.url);
    const session = await BinlogSession.start(
      { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), database: db.name },
      {
        file: String(st[0]?.File),
        position: Number(st[0]?.Position),
        serverId: replicaServerId('replication test', Number(own?.id)),
        heartbeatMs: 1000,
      },
    );
    try {
      // one 20 MiB row (an event over one 16 MiB packet), then 40 MiB more in 1 MiB rows
      await conn.query('INSERT INTO blobs VALUES (0, REPEAT(?, 20 * 1024 * 1024))', ['x']);
      for (let i = 1; i <= 40; i++)
        await conn.query('INSERT INTO blobs VALUES (?, REPEAT(?, 1024 * 1024))', [i, 'y']);
      // nobody reads: what is held here stays near the high-water mark, not 60 MiB
      let before = -1;
      while (session.pending !== before) {
        before = session.pending;
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(session.pending).toBeLessThan(40 * 1024 * 1024);
      let bytes = 0;
      let largest = 0;
      let rowsEvents = 0;
      while (rowsEvents < 41) {
        const item = await session.next(10_000);
        if (!Buffer.isBuffer(item))
          throw new Error(`the session ended or went silent: ${JSON.stringify(item)}`);
        bytes += item.length;
        largest = Math.max(largest, item.length);
        // the event's own header says its size: it arrived whole
        expect(item.readUInt32LE(9)).toBe(item.length);
        if (item[4] === 30 || item[4] === 23) rowsEvents++;
      }
      expect(largest).toBeGreaterThan(20 * 1024 * 1024);
      expect(bytes).toBeGreaterThan(60 * 1024 * 1024);
    } finally {
      await session.close();
    }
  });
});
