import { describe, expect, it } from 'vitest';
import { SEGMENT_MAGIC, decodeSegment, encodeTransaction } from '../../../src/repository/segment-codec.js';
import type { Transaction } from '../../../src/driver/source-driver.js';
import { IntegrityError } from '../../../src/util/errors.js';

const txs: Transaction[] = [
  { position: '0000000001000000', commitTime: 1_700_000_000_000_001n, payload: Buffer.from('first'), changes: 1, tables: ['public.a'] },
  { position: '0000000001000100', commitTime: 1_700_000_000_000_002n, payload: Buffer.alloc(0), changes: 0, tables: [] },
  { position: '0000000001000200', commitTime: 1_700_000_000_000_003n, payload: Buffer.from('part 1'), changes: 2, tables: ['public."Kunden Übersicht"'], more: true },
  { position: '0000000001000200', commitTime: 1_700_000_000_000_003n, payload: Buffer.from('part 2 ✓'), changes: 3, tables: ['public.b'] },
  // a DDL the table list does not name (flags bit 1)
  { position: '0000000001000300', commitTime: 1_700_000_000_000_004n, payload: Buffer.from('ddl'), changes: 0, tables: [], schemaChange: true },
];
const segment = Buffer.concat([SEGMENT_MAGIC, ...txs.map(encodeTransaction)]);

async function* pieces(buf: Buffer, cuts: number[]): AsyncIterable<Uint8Array> {
  let at = 0;
  for (const c of [...cuts, buf.length]) {
    yield buf.subarray(at, c);
    at = c;
  }
}

async function decodeAll(data: AsyncIterable<Uint8Array>): Promise<Transaction[]> {
  const out: Transaction[] = [];
  for await (const tx of decodeSegment(data, 'test segment')) out.push({ ...tx, payload: Buffer.from(tx.payload) });
  return out;
}

const normal = (list: Transaction[]) => list.map((t) => ({ ...t, payload: Buffer.from(t.payload).toString('hex'), more: t.more === true }));

describe('log segment framing', () => {
  it('round-trips transactions whatever the chunk boundaries', async () => {
    // Cut the stream at every single offset, and into 1-byte pieces.
    for (let cut = 0; cut <= segment.length; cut++) {
      expect(normal(await decodeAll(pieces(segment, [cut])))).toEqual(normal(txs));
    }
    const bytes = Array.from({ length: segment.length - 1 }, (_, i) => i + 1);
    expect(normal(await decodeAll(pieces(segment, bytes)))).toEqual(normal(txs));
  });

  it('keeps the schema-change bit apart from the more-parts bit', () => {
    expect(encodeTransaction(txs[4]!)[4]).toBe(0x02);
    expect(encodeTransaction({ ...txs[2]!, schemaChange: true })[4]).toBe(0x03);
    expect(encodeTransaction(txs[0]!)[4]).toBe(0x00);
  });

  it('reports a truncated segment instead of returning fewer transactions', async () => {
    await expect(decodeAll(pieces(segment.subarray(0, segment.length - 3), []))).rejects.toThrow(
      'test segment ends in the middle of a record; the segment is truncated.',
    );
  });

  it('refuses data that is not a segment', async () => {
    const err = await decodeAll(pieces(Buffer.from('PGDMP not a log at all'), [])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toBe('test segment is not a crm-backup log segment (bad magic).');
  });

  it('decodes an empty segment (heartbeat only) to no transactions', async () => {
    expect(await decodeAll(pieces(SEGMENT_MAGIC, []))).toEqual([]);
  });
});
