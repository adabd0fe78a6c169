import { describe, expect, it } from 'vitest';
import { lit } from '../../../drivers/postgres/internal/apply-sql.js';
import { changeLogNames } from '../../../drivers/postgres/change-log.js';
import { decodePayload, PartSpool, PayloadBuilder, type Relation } from '../../../drivers/postgres/internal/payload.js';
import { PG_EPOCH_OFFSET_MICROS, UNCHANGED_TOAST } from '../../../drivers/postgres/internal/pgoutput.js';
import { encodeStandbyStatus, parseReplicationFrame } from '../../../drivers/postgres/internal/replication.js';

describe('replication frames', () => {
  it('parses XLogData and keepalive, with server times in Unix µs', () => {
    const w = Buffer.alloc(25 + 3);
    w.write('w', 0);
    w.writeBigUInt64BE(0x10n, 1);
    w.writeBigUInt64BE(0x20n, 9);
    w.writeBigInt64BE(7n, 17);
    w.write('abc', 25);
    const f = parseReplicationFrame(w);
    expect(f).toMatchObject({ kind: 'xlog', walStart: 0x10n, walEnd: 0x20n, serverTime: 7n + PG_EPOCH_OFFSET_MICROS });
    expect((f as { data: Buffer }).data.toString()).toBe('abc');
    const k = Buffer.alloc(18);
    k.write('k', 0);
    k.writeBigUInt64BE(0x30n, 1);
    k.writeBigInt64BE(9n, 9);
    k.writeUInt8(1, 17);
    expect(parseReplicationFrame(k)).toEqual({ kind: 'keepalive', walEnd: 0x30n, serverTime: 9n + PG_EPOCH_OFFSET_MICROS, replyRequested: true });
    expect(() => parseReplicationFrame(Buffer.from('k12'))).toThrow(/Unexpected replication frame/);
  });

  it('encodes a standby status update with flush = apply and PostgreSQL-epoch time', () => {
    const b = encodeStandbyStatus(0x50n, 0x40n, PG_EPOCH_OFFSET_MICROS + 3n, true);
    expect(b.length).toBe(34);
    expect(String.fromCharCode(b[0] ?? 0)).toBe('r');
    expect(b.readBigUInt64BE(1)).toBe(0x50n);
    expect(b.readBigUInt64BE(9)).toBe(0x40n);
    expect(b.readBigUInt64BE(17)).toBe(0x40n);
    expect(b.readBigInt64BE(25)).toBe(3n);
    expect(b[33]).toBe(1);
  });
});

describe('pg-changes/1 payload', () => {
  const rel: Relation = {
    tag: 'relation',
    relationId: 5,
    namespace: 'public',
    name: 'ü "x"',
    replicaIdentity: 'd',
    columns: [
      { name: 'id', isKey: true, typeOid: 23, typmod: -1 },
      { name: 'v', isKey: false, typeOid: 25, typmod: -1 },
    ],
  };

  it('round-trips every record kind and describes relations before use, once per part', () => {
    const b = new PayloadBuilder(9, 0, new Map([[5, rel]]));
    b.add({ tag: 'insert', relationId: 5, newRow: ['1', 'line\nbreak "q"'] });
    b.add({ tag: 'update', relationId: 5, oldKind: 'K', oldRow: ['1', null], newRow: ['2', UNCHANGED_TOAST] });
    b.add({ tag: 'delete', relationId: 5, oldKind: 'O', oldRow: ['2', null] });
    b.add({ tag: 'truncate', cascade: true, restartIdentity: false, relationIds: [5] });
    b.add({ tag: 'message', transactional: true, lsn: 1n, prefix: 'crmb.ddl', content: Buffer.from('{"sql":"x"}') });
    b.add({ tag: 'message', transactional: true, lsn: 1n, prefix: 'bin', content: Buffer.from([0xff, 0xfe]) });
    expect(b.changes).toBe(4);
    expect([...b.tables]).toEqual(['public.ü "x"']);
    const recs = [...decodePayload(b.finish())];
    expect(recs.map((r) => r.kind)).toEqual(['relation', 'insert', 'update', 'delete', 'truncate', 'message', 'message']);
    expect(recs[1]).toEqual({ kind: 'insert', relationId: 5, newRow: ['1', 'line\nbreak "q"'] });
    expect(recs[2]).toEqual({ kind: 'update', relationId: 5, newRow: ['2', false], oldKind: 'K', oldRow: ['1', null] });
    expect(recs[0]).toMatchObject({ kind: 'relation', relation: { name: 'ü "x"', columns: rel.columns } });
    expect(recs[6]).toMatchObject({ kind: 'message', prefix: 'bin', text: undefined });
    expect([...(recs[6] as { bytes: Uint8Array }).bytes]).toEqual([0xff, 0xfe]);
  });

  it('re-describes a relation that changed mid-part and refuses damaged payloads', () => {
    const rels = new Map([[5, rel]]);
    const b = new PayloadBuilder(9, 0, rels);
    b.add({ tag: 'insert', relationId: 5, newRow: ['1', 'a'] });
    rels.set(5, { ...rel, columns: [...rel.columns, { name: 'w', isKey: false, typeOid: 23, typmod: -1 }] });
    b.invalidate(5);
    b.add({ tag: 'insert', relationId: 5, newRow: ['2', 'b', '3'] });
    expect([...decodePayload(b.finish())].filter((r) => r.kind === 'relation')).toHaveLength(2);
    expect(() => [...decodePayload(Buffer.from('{"format":"other/1"}'))]).toThrow(/damaged/);
    expect(() => new PayloadBuilder(1, 0, new Map()).add({ tag: 'insert', relationId: 77, newRow: [] })).toThrow(/before describing/);
  });

  it('spools parts beyond the first to disk and reads them back in order', async () => {
    const spool = new PartSpool();
    for (let i = 0; i < 4; i++) await spool.add({ payload: Buffer.from(`part ${i}`), changes: i, tables: [`t${i}`] });
    expect(spool.count).toBe(4);
    const back: string[] = [];
    for await (const p of spool.parts()) back.push(`${Buffer.from(p.payload).toString()}/${p.changes}/${p.tables.join()}`);
    expect(back).toEqual(['part 0/0/t0', 'part 1/1/t1', 'part 2/2/t2', 'part 3/3/t3']);
    await spool.clear();
    expect(spool.count).toBe(0);
  });
});

describe('names and literals', () => {
  it('folds source names into identifiers of at most 63 characters, distinct after folding', () => {
    expect(changeLogNames('crm').slot).toBe('crmb_crm');
    expect(changeLogNames('CRM').slot).not.toBe(changeLogNames('crm').slot);
    expect(changeLogNames('a'.repeat(80)).slot).toHaveLength(63);
    expect(changeLogNames(`ünï 'x"`).slot).toMatch(/^crmb_[a-z0-9_]+$/);
  });

  it('quotes literals by doubling single quotes only', () => {
    expect(lit(`it's \\ "x"`)).toBe(`'it''s \\ "x"'`);
  });
});

describe('DDL replay statements', () => {
  it('splits at top-level semicolons only and keeps DDL without rows and transaction control', async () => {
    const { replayStatements, splitStatements } = await import('../../../drivers/postgres/internal/ddl-capture.js');
    const sql = `BEGIN; -- migration; with comments
      CREATE TABLE "a;b" (x text DEFAULT 'semi;colon', y text DEFAULT E'it\\'s;');
      INSERT INTO "a;b" VALUES ('1;2');
      CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$;
      /* block; comment */ SET search_path = app, public;
      WITH x AS (SELECT 1) UPDATE t SET y = 1;
      SELECT * INTO copy_t FROM t;
      COMMIT;`;
    expect(splitStatements(sql)).toHaveLength(8);
    expect(replayStatements(sql)).toEqual([
      `CREATE TABLE "a;b" (x text DEFAULT 'semi;colon', y text DEFAULT E'it\\'s;')`,
      'CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$ SELECT 1; $body$',
      'SET LOCAL search_path = app, public',
      'SELECT * INTO copy_t FROM t',
    ]);
  });
});
