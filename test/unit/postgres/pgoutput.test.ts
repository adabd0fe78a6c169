import { describe, expect, it } from 'vitest';
import { decodePgOutput, PG_EPOCH_OFFSET_MICROS, UNCHANGED_TOAST } from '../../../drivers/postgres/internal/pgoutput.js';

/** Builds protocol bytes: numbers as [value, width], strings as C strings, Buffers verbatim. */
function msg(type: string, ...parts: Array<[number | bigint, 1 | 2 | 4 | 8] | string | Buffer>): Buffer {
  const out: Buffer[] = [Buffer.from(type, 'ascii')];
  for (const p of parts) {
    if (typeof p === 'string') out.push(Buffer.from(`${p}\0`, 'utf8'));
    else if (Buffer.isBuffer(p)) out.push(p);
    else {
      const [v, w] = p;
      const b = Buffer.alloc(w);
      if (w === 1) b.writeUInt8(Number(v));
      else if (w === 2) b.writeInt16BE(Number(v));
      else if (w === 4) b.writeUInt32BE(Number(v));
      else b.writeBigUInt64BE(BigInt(v));
      out.push(b);
    }
  }
  return Buffer.concat(out);
}

function tuple(...values: Array<string | null | 'u'>): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(2);
  n.writeInt16BE(values.length);
  parts.push(n);
  for (const v of values) {
    if (v === null) parts.push(Buffer.from('n'));
    else if (v === 'u') parts.push(Buffer.from('u'));
    else {
      const data = Buffer.from(v, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(data.length);
      parts.push(Buffer.from('t'), len, data);
    }
  }
  return Buffer.concat(parts);
}

describe('pgoutput decoder', () => {
  it('decodes Begin and Commit with times moved to the Unix epoch', () => {
    const begin = decodePgOutput(msg('B', [0x16b3748n, 8], [1_000_000n, 8], [742, 4]));
    expect(begin).toEqual({ tag: 'begin', finalLsn: 0x16b3748n, commitTime: 1_000_000n + PG_EPOCH_OFFSET_MICROS, xid: 742 });
    const commit = decodePgOutput(msg('C', [0, 1], [0x100n, 8], [0x180n, 8], [5n, 8]));
    expect(commit).toEqual({ tag: 'commit', flags: 0, commitLsn: 0x100n, endLsn: 0x180n, commitTime: 5n + PG_EPOCH_OFFSET_MICROS });
  });

  it('decodes Relation with key flags, type oids and typmods, and non-ASCII names', () => {
    const rel = decodePgOutput(
      msg('R', [16384, 4], 'public', 'Odd "Name" ünï', [0x66, 1], [2, 2], [1, 1], 'id', [20, 4], [-1 >>> 0, 4], [0, 1], 'Ünï', [1700, 4], [655366, 4]),
    );
    expect(rel).toEqual({
      tag: 'relation',
      relationId: 16384,
      namespace: 'public',
      name: 'Odd "Name" ünï',
      replicaIdentity: 'f',
      columns: [
        { isKey: true, name: 'id', typeOid: 20, typmod: -1 },
        { isKey: false, name: 'Ünï', typeOid: 1700, typmod: 655366 },
      ],
    });
  });

  it('decodes Insert, Update with old key and unchanged TOAST, Delete with old row', () => {
    expect(decodePgOutput(msg('I', [7, 4], Buffer.from('N'), tuple('1', null, 'é')).subarray(0))).toEqual({
      tag: 'insert',
      relationId: 7,
      newRow: ['1', null, 'é'],
    });
    const b = Buffer.concat([msg('U', [7, 4]), Buffer.from('K'), tuple('1', null), Buffer.from('N'), tuple('2', 'u')]);
    expect(decodePgOutput(b)).toEqual({ tag: 'update', relationId: 7, oldKind: 'K', oldRow: ['1', null], newRow: ['2', UNCHANGED_TOAST] });
    const plain = Buffer.concat([msg('U', [7, 4]), Buffer.from('N'), tuple('3')]);
    expect(decodePgOutput(plain)).toMatchObject({ oldKind: undefined, oldRow: undefined, newRow: ['3'] });
    const del = Buffer.concat([msg('D', [7, 4]), Buffer.from('O'), tuple('1', 'x')]);
    expect(decodePgOutput(del)).toEqual({ tag: 'delete', relationId: 7, oldKind: 'O', oldRow: ['1', 'x'] });
  });

  it('decodes Truncate options, Type, Origin and logical messages', () => {
    expect(decodePgOutput(msg('T', [2, 4], [3, 1], [10, 4], [11, 4]))).toEqual({
      tag: 'truncate',
      cascade: true,
      restartIdentity: true,
      relationIds: [10, 11],
    });
    expect(decodePgOutput(msg('Y', [90000, 4], 'public', 'mood'))).toEqual({ tag: 'type', typeOid: 90000, namespace: 'public', name: 'mood' });
    expect(decodePgOutput(msg('O', [5n, 8], 'node_a'))).toEqual({ tag: 'origin', originLsn: 5n, name: 'node_a' });
    const content = Buffer.from('{"sql":"ALTER TABLE t ADD c int"}');
    const m = decodePgOutput(msg('M', [1, 1], [0x200n, 8], 'crmb.ddl', [content.length, 4], content));
    expect(m).toMatchObject({ tag: 'message', transactional: true, lsn: 0x200n, prefix: 'crmb.ddl' });
    expect(Buffer.from((m as { content: Uint8Array }).content).toString()).toBe(content.toString());
  });

  it('copies values out of the input buffer (pg-protocol reuses it)', () => {
    const b = msg('I', [7, 4], Buffer.from('N'), tuple('abc'));
    const m = decodePgOutput(b);
    b.fill(0);
    expect(m).toMatchObject({ newRow: ['abc'] });
  });

  it('rejects unknown message types, streaming messages and damaged input with clear errors', () => {
    expect(() => decodePgOutput(Buffer.from('Zxxxx'))).toThrow(/message type "Z".*not supported/);
    expect(() => decodePgOutput(msg('S', [1, 4], [1, 1]))).toThrow(/not supported/);
    const full = msg('I', [7, 4], Buffer.from('N'), tuple('abcdef'));
    // cut at every byte: a clear "truncated" error, never garbage
    for (let cut = 1; cut < full.length; cut++) {
      expect(() => decodePgOutput(full.subarray(0, cut))).toThrow(/truncated|expected/);
    }
    expect(() => decodePgOutput(Buffer.concat([full, Buffer.from([0])]))).toThrow(/trailing/);
    expect(() => decodePgOutput(Buffer.concat([msg('I', [7, 4], Buffer.from('N')), Buffer.from([0, 1]), Buffer.from('x')]))).toThrow(/unknown kind "x"/);
  });
});
