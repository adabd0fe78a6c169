import { describe, expect, it } from 'vitest';
import { LagReporter } from '../../../src/driver/lag-report.js';
import { isHeartbeat, type ChangeLogItem, type Transaction } from '../../../src/driver/source-driver.js';
import { ColumnType, type BinlogEvent, type TableMapEvent } from '../../../drivers/mysql/binlog/types.js';
import { decodeHeader, decodePayload } from '../../../drivers/mysql/internal/payload.js';
import {
  PART_MAX_CHANGES,
  TransactionAssembler,
} from '../../../drivers/mysql/internal/transaction-assembly.js';

let pos = 4;
const header = (type: number, size = 50, timestamp = 1_765_000_000) => {
  pos += size;
  return { timestamp, type, serverId: 1, eventSize: size, nextPosition: pos, flags: 0 };
};
const base = (type: number, timestamp?: number) => {
  const h = header(type, 50, timestamp);
  return { header: h, offset: h.nextPosition - 50 };
};

function tableMap(database: string, table: string): TableMapEvent {
  return {
    ...base(19),
    kind: 'table-map',
    tableId: 7n,
    database,
    table,
    columns: [
      { type: ColumnType.LONG, meta: 0, nullable: false, name: 'id' },
      { type: ColumnType.VARCHAR, meta: 80, nullable: true, name: 'name', collation: 45 },
    ],
    primaryKey: [0],
  };
}

const gtid = (g: string, o: { standalone?: boolean; micros?: bigint } = {}): BinlogEvent => ({
  ...base(162),
  kind: 'gtid',
  flavor: g.includes(':') ? 'mysql' : 'mariadb',
  gtid: g,
  ...(o.standalone ? { standalone: true } : {}),
  ...(o.micros !== undefined ? { originalCommitMicros: o.micros } : {}),
});
const insert = (t: TableMapEvent, ...ids: number[]): BinlogEvent => ({
  ...base(30),
  kind: 'rows',
  operation: 'insert',
  tableId: t.tableId,
  table: t,
  rows: ids.map((id) => ({ after: [BigInt(id), Buffer.from(`n${id}`)] })),
  statementEnd: true,
});
const xid = (timestamp?: number): BinlogEvent => ({ ...base(16, timestamp), kind: 'xid', xid: 1n });
const query = (database: string, sql: string, timestamp?: number): BinlogEvent => ({
  ...base(2, timestamp),
  kind: 'query',
  threadId: 1,
  database,
  sql,
  errorCode: 0,
  sqlMode: 1436549152n,
  timeZone: 'SYSTEM',
});

function assembler(start = { file: 'binlog.000001', offset: 4 }): TransactionAssembler {
  return new TransactionAssembler(start, {
    database: 'crm',
    sourceName: 'src/crm',
    lag: new LagReporter(undefined),
    commit: () => {},
  });
}

async function feed(a: TransactionAssembler, events: BinlogEvent[]): Promise<ChangeLogItem[]> {
  const out: ChangeLogItem[] = [];
  for (const ev of events) for await (const item of a.event(ev)) out.push(item);
  return out;
}

const txs = (items: ChangeLogItem[]): Transaction[] => items.filter((i): i is Transaction => !isHeartbeat(i));

describe('MySQL/MariaDB transaction assembly', () => {
  it('yields the source database transactions with position, GTID state, commit time and tables', async () => {
    pos = 4;
    const crm = tableMap('crm', 'contacts');
    const other = tableMap('other', 'x');
    const a = assembler();
    const items = await feed(a, [
      { ...base(163), kind: 'gtid-list', gtids: '0-1-4' },
      gtid('0-1-5'),
      crm,
      insert(crm, 1, 2),
      xid(1_765_000_010),
      gtid('0-1-6'),
      other,
      insert(other, 9),
      xid(),
      gtid('0-1-7', { standalone: true }),
      query('crm', 'ALTER TABLE contacts ADD COLUMN c int', 1_765_000_011),
      // rolled back with a non-transactional change: logged, never happened
      gtid('0-1-8'),
      crm,
      insert(crm, 99),
      query('crm', 'ROLLBACK'),
      gtid('0-1-9'),
      query('crm', 'SAVEPOINT a'),
      crm,
      insert(crm, 3),
      query('crm', 'COMMIT', 1_765_000_005),
    ]);
    const t = txs(items);
    expect(t.map((x) => x.position.replace(/:\d+#/, ':N#'))).toEqual([
      'binlog.000001:N#0-1-5',
      'binlog.000001:N#0-1-7',
      'binlog.000001:N#0-1-9',
    ]);
    expect(t.map((x) => x.commitTime)).toEqual([
      1_765_000_010_000_000n,
      1_765_000_011_000_000n,
      // the log went back in time: raised to the transaction before it
      1_765_000_011_000_000n,
    ]);
    expect(t.map((x) => x.tables)).toEqual([['crm.contacts'], ['crm.contacts'], ['crm.contacts']]);
    expect(t.map((x) => x.changes)).toEqual([2, 0, 1]);
    const ddl = [...decodePayload(t[1]!.payload)];
    expect(ddl).toMatchObject([
      {
        kind: 'statement',
        statement: { database: 'crm', sql: 'ALTER TABLE contacts ADD COLUMN c int', sqlMode: 1436549152n },
      },
    ]);
    expect(JSON.stringify([...decodePayload(t[2]!.payload)].map((r) => r.kind))).toBe('["insert"]');
    expect(decodeHeader(t[0]!.payload).gtid).toBe('0-1-5');
  });

  it('reads MySQL groups: BEGIN … XID with original_commit_timestamp, and DDL without BEGIN', async () => {
    pos = 4;
    const crm = tableMap('crm', 'contacts');
    const uuid = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
    const items = await feed(assembler(), [
      { ...base(35), kind: 'gtid-list', gtids: `${uuid}:1-10` },
      gtid(`${uuid}:11`, { micros: 1_765_000_000_123_456n }),
      query('crm', 'BEGIN'),
      crm,
      insert(crm, 1),
      xid(),
      gtid(`${uuid}:12`, { micros: 1_765_000_001_000_001n }),
      query('crm', 'CREATE TABLE `crm`.t2 (a int)'),
    ]);
    const t = txs(items);
    expect(t.map((x) => x.commitTime)).toEqual([1_765_000_000_123_456n, 1_765_000_001_000_001n]);
    expect(t[1]?.position).toMatch(new RegExp(`#${uuid}:1-12$`));
    expect(t[1]?.tables).toEqual(['crm.t2']);
  });

  it('drops what a resumed session sends again, and heartbeats never go back nor into a transaction', async () => {
    pos = 4;
    const crm = tableMap('crm', 'contacts');
    const first = assembler();
    const batch = [gtid('0-1-1'), crm, insert(crm, 1), xid(), gtid('0-1-2'), crm, insert(crm, 2), xid()];
    const all = txs(await feed(first, batch));
    expect(all).toHaveLength(2);
    // a new assembler resuming at the first transaction's position sees both again
    const resumed = assembler({ file: 'binlog.000001', offset: Number(all[0]!.position.split(/[:#]/)[1]) });
    const again = txs(await feed(resumed, batch));
    expect(again.map((t) => t.position)).toEqual([all[1]!.position]);
    const hb = (file: string, at: number): BinlogEvent => ({
      header: { timestamp: 0, type: 27, serverId: 1, eventSize: 40, nextPosition: at, flags: 0 },
      offset: 0,
      kind: 'heartbeat',
      logFile: file,
    });
    const inside = await feed(resumed, [gtid('0-1-3'), crm, insert(crm, 3), hb('binlog.000001', 99_999)]);
    expect(inside.filter(isHeartbeat)).toEqual([]);
    const beats = (await feed(resumed, [xid(), hb('binlog.000001', 5), hb('binlog.000002', 4)])).filter(
      isHeartbeat,
    );
    // position 5 is before the transaction just yielded: the heartbeat says that one instead
    expect(beats.map((b) => b.position.split('#')[0])).toEqual([`binlog.000001:${pos}`, 'binlog.000002:4']);
  });

  it('refuses an XA transaction on the source database instead of leaving it out', async () => {
    pos = 4;
    const crm = tableMap('crm', 'contacts');
    const xa: BinlogEvent = {
      ...gtid('0-1-1'),
      kind: 'gtid',
      flavor: 'mariadb',
      gtid: '0-1-1',
      xa: { state: 'prepared', xid: "X'31',X'',1" },
    };
    await expect(feed(assembler(), [xa, crm, insert(crm, 1)])).rejects.toThrow(
      /^The binlog holds an XA transaction \(GTID 0-1-1\) that changes crm\.contacts, which the MySQL\/MariaDB change log cannot replay yet/,
    );
  });

  it('passes its own idle marker as a 0-change internal transaction and skips other streams', async () => {
    pos = 4;
    const marker = tableMap('crmb', 'heartbeat');
    const mark = (name: string): BinlogEvent => ({
      ...base(31),
      kind: 'rows',
      operation: 'update',
      tableId: 9n,
      table: marker,
      rows: [
        {
          before: [Buffer.from(name), '2026-01-01 00:00:00'],
          after: [Buffer.from(name), '2026-01-01 00:00:01'],
        },
      ],
      statementEnd: true,
    });
    const t = txs(
      await feed(assembler(), [
        gtid('0-1-1'),
        marker,
        mark('other/db'),
        xid(),
        gtid('0-1-2'),
        marker,
        mark('src/crm'),
        xid(),
      ]),
    );
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ changes: 0, tables: [] });
    expect(decodeHeader(t[0]!.payload).internal).toBe(true);
  });

  it('cuts a large transaction into parts with one position, and a rotation moves to the next file', async () => {
    pos = 4;
    const crm = tableMap('crm', 'contacts');
    const ids = Array.from({ length: PART_MAX_CHANGES * 2 + 5 }, (_, i) => i);
    const a = assembler();
    const parts = txs(await feed(a, [gtid('0-1-1'), crm, insert(crm, ...ids), xid()]));
    expect(parts.map((p) => [p.changes, p.more ?? false])).toEqual([
      [PART_MAX_CHANGES, true],
      [PART_MAX_CHANGES, true],
      [5, false],
    ]);
    expect(new Set(parts.map((p) => p.position)).size).toBe(1);
    pos = 4;
    const next = txs(
      await feed(a, [
        {
          header: { timestamp: 0, type: 4, serverId: 1, eventSize: 40, nextPosition: 0, flags: 0 },
          offset: 0,
          kind: 'rotate',
          nextFile: 'binlog.000002',
          nextPosition: 4n,
        },
        gtid('0-1-2'),
        crm,
        insert(crm, 1),
        xid(),
      ]),
    );
    expect(next[0]?.position).toMatch(/^binlog\.000002:\d+#0-1-2$/);
    expect(a.resumeFrom.file).toBe('binlog.000002');
  });

  it('records where the source had foreign key checks off, per rows event, again in each part it is cut into', async () => {
    pos = 4;
    const crm = tableMap('crm', 'contacts');
    const ids = Array.from({ length: PART_MAX_CHANGES + 2 }, (_, i) => i);
    // NO_FOREIGN_KEY_CHECKS_F (2) on the first event, not on the second
    const unchecked = { ...insert(crm, ...ids), flags: 2 } as BinlogEvent;
    const parts = txs(await feed(assembler(), [gtid('0-1-1'), crm, unchecked, insert(crm, -1), xid()]));
    const kinds = parts.map((p) =>
      [...decodePayload(p.payload)]
        .map((r) => (r.kind === 'foreign-key-checks' ? `checks ${r.on ? 'on' : 'off'}` : r.kind))
        .filter((k, i, all) => k !== all[i - 1]),
    );
    expect(kinds).toEqual([
      ['checks off', 'insert'],
      ['checks off', 'insert', 'checks on', 'insert'],
    ]);
  });
});
