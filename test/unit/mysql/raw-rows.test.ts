/**
 * RawRows reads a result set's packets off the socket in place of mysql2's parser. These tests
 * feed it the bytes a server sends, cut into socket chunks everywhere a cut can fall (inside a
 * header, inside a row, inside the EOF), and check what a snapshot stores: the field count, then
 * each row's payload; the checksum the core would find by splitting those bytes again; and the
 * packets handed back to mysql2 (EOF, ERR, OK) with the sequence id mysql2 expects next.
 */
import { describe, expect, it } from 'vitest';
import { Out, ROWS_HEADER_BYTES } from '../../../drivers/mysql/internal/rows-format.js';
import { RawRows, type Parser, type RawConnection } from '../../../drivers/mysql/internal/rows-query.js';
import { ChecksumSum } from '../../../src/driver/row-sum.js';
import { RowsSplitter } from '../../../drivers/mysql/internal/rows-format.js';
import { rowHasher } from '../../../src/backup/row-checksum.js';

function lenenc(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const h = Buffer.alloc(9);
  h[0] = 0xfe;
  h.writeBigUInt64LE(BigInt(n), 1);
  return h;
}

function rowPayload(fields: readonly (Buffer | null)[]): Buffer {
  return Buffer.concat(fields.flatMap((f) => (f === null ? [Buffer.from([0xfb])] : [lenenc(f.length), f])));
}

/** Packets with headers and running sequence ids from `seq`; a payload of 2^24 − 1 bytes or more is split as the protocol does. */
function packets(payloads: readonly Buffer[], seq = 1): { bytes: Buffer; next: number } {
  const out: Buffer[] = [];
  let s = seq;
  for (const p of payloads) {
    let off = 0;
    for (;;) {
      const len = Math.min(0xffffff, p.length - off);
      const h = Buffer.from([len & 0xff, (len >> 8) & 0xff, len >> 16, s & 0xff]);
      s++;
      out.push(h, p.subarray(off, off + len));
      off += len;
      if (len < 0xffffff) break;
    }
  }
  return { bytes: Buffer.concat(out), next: s & 0xff };
}

const EOF = Buffer.from([0xfe, 0, 0, 0x22, 0]);
const columnDef = (name: string): Buffer =>
  Buffer.concat([lenenc(3), Buffer.from('def'), lenenc(name.length), Buffer.from(name)]);

function resultSet(rows: readonly Buffer[], fields: number): { bytes: Buffer; eofSeq: number } {
  const head = [lenenc(fields), ...Array.from({ length: fields }, (_, i) => columnDef(`c${i}`)), EOF];
  const a = packets([...head, ...rows]);
  const b = packets([EOF], a.next);
  return { bytes: Buffer.concat([a.bytes, b.bytes]), eofSeq: a.next };
}

interface Run {
  stored: Buffer;
  rows: number;
  handedBack: Buffer;
  seqAtHandBack: number | undefined;
  sum: ReturnType<ChecksumSum['result']>;
}

/** Feeds `bytes` to RawRows in chunks of the given sizes (cycled). */
function run(bytes: Buffer, sizes: readonly number[]): Run {
  const back: Buffer[] = [];
  let seqAtHandBack: number | undefined;
  const conn = { sequenceId: 1, config: {} } as unknown as RawConnection;
  const mysql2: Parser = {
    execute(chunk) {
      if (seqAtHandBack === undefined) seqAtHandBack = conn.sequenceId;
      back.push(Buffer.from(chunk));
    },
  };
  const out = new Out();
  const sum = new ChecksumSum();
  const chunks: Buffer[] = [];
  const raw = new RawRows(
    conn,
    mysql2,
    out,
    sum,
    (c) => chunks.push(Buffer.from(c)),
    () => {},
  );
  conn.packetParser = raw;
  let off = 0;
  for (let i = 0; off < bytes.length; i++) {
    const n = sizes[i % sizes.length] as number;
    // as mysql2's 'data' listener does: whichever parser is installed now gets the chunk
    conn.packetParser.execute(bytes.subarray(off, off + n));
    off += n;
  }
  // what the command's last state does with the rest once the EOF came back
  if (out.pos > 0) chunks.push(Buffer.from(out.take()));
  return {
    stored: Buffer.concat(chunks),
    rows: raw.rows,
    handedBack: Buffer.concat(back),
    seqAtHandBack,
    sum: sum.result(),
  };
}

function expectedStored(rows: readonly Buffer[], fields: number): Buffer {
  const h = Buffer.alloc(ROWS_HEADER_BYTES);
  h.writeUInt16LE(fields, 0);
  return Buffer.concat([h, ...rows]);
}

/** The checksum the core computes when a driver does not hash its rows (RowsSplitter's rows). */
function coreChecksum(stored: Buffer): ReturnType<ChecksumSum['result']> {
  const h = rowHasher({ splitter: () => new RowsSplitter() });
  h.push(stored);
  return h.end();
}

function someRows(n: number, seed: number): Buffer[] {
  const rows: Buffer[] = [];
  let x = seed;
  const rnd = (m: number): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % m);
  for (let i = 0; i < n; i++) {
    const text = Buffer.alloc(rnd(300), 0x61 + (i % 26));
    const bin = Buffer.from(Array.from({ length: rnd(20) }, () => rnd(256)));
    rows.push(
      rowPayload([
        Buffer.from(String(i)),
        i % 7 === 0 ? null : text,
        bin,
        i % 50 === 0 ? Buffer.alloc(70_000, 0x7a) : null,
      ]),
    );
  }
  return rows;
}

describe('RawRows', () => {
  it('stores each row payload after the field count, whatever the socket chunks, and sums what the core would', () => {
    const rows = someRows(3000, 7);
    const { bytes, eofSeq } = resultSet(rows, 4);
    const want = expectedStored(rows, 4);
    for (const sizes of [
      [bytes.length],
      [1],
      [2, 3, 5, 7],
      [4],
      [65536],
      [1000, 1, 1, 2, 60000],
      [9, 4096],
    ]) {
      const r = run(bytes, sizes);
      expect(r.stored.equals(want), `chunks of ${sizes.join(',')}`).toBe(true);
      expect(r.rows).toBe(3000);
      expect(r.sum).toEqual(coreChecksum(want));
      expect(r.handedBack.equals(packets([EOF], eofSeq).bytes)).toBe(true);
      expect(r.seqAtHandBack).toBe(eofSeq);
    }
  });

  it('puts a row of 16 MiB or more back together from its packets', () => {
    const big = rowPayload([Buffer.from('1'), Buffer.alloc(0xffffff + 10, 0x41)]);
    const exact = rowPayload([Buffer.from('3'), Buffer.alloc(0xffffff - 6, 0x42)]); // payload exactly 2^24 − 1: an empty packet follows
    expect(exact.length).toBe(0xffffff);
    const small = rowPayload([Buffer.from('2'), Buffer.from('x')]);
    const rows = [small, big, exact, small];
    const { bytes } = resultSet(rows, 2);
    const wantRows = [small, big, exact, small];
    const r = run(bytes, [65536]);
    expect(r.rows).toBe(4);
    expect(r.stored.equals(expectedStored(wantRows, 2))).toBe(true);
    expect(r.sum).toEqual(coreChecksum(r.stored));
  });

  it('hands an ERR in the middle of the rows to mysql2, keeping the rows before it', () => {
    const rows = someRows(50, 3);
    const head = [lenenc(4), ...[0, 1, 2, 3].map((i) => columnDef(`c${i}`)), EOF];
    const err = Buffer.concat([
      Buffer.from([0xff, 0x1d, 0x05, 0x23]),
      Buffer.from('70100Query execution was interrupted'),
    ]);
    const a = packets([...head, ...rows, err]);
    const r = run(a.bytes, [333]);
    expect(r.rows).toBe(50);
    expect(r.stored.equals(expectedStored(rows, 4))).toBe(true);
    expect(r.handedBack.subarray(4).equals(err)).toBe(true);
    expect(r.seqAtHandBack).toBe((a.next - 1) & 0xff);
  });

  it('hands an OK (a statement without rows) and an ERR instead of the header straight to mysql2', () => {
    const ok = packets([Buffer.from([0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00])]).bytes;
    const r = run(ok, [3]);
    expect(r.handedBack.equals(ok)).toBe(true);
    expect(r.stored.length).toBe(0);
    const err = packets([
      Buffer.concat([Buffer.from([0xff, 0x7a, 0x04, 0x23]), Buffer.from("42S02Table 'crm.x' doesn't exist")]),
    ]).bytes;
    expect(run(err, [100]).handedBack.equals(err)).toBe(true);
  });

  it('reads a table of more than 250 columns (a two-byte column count) and wraps sequence ids past 255', () => {
    const fields = 300;
    const rows = Array.from({ length: 400 }, (_, i) =>
      rowPayload(Array.from({ length: fields }, (_, f) => (f % 3 ? Buffer.from(`${i}:${f}`) : null))),
    );
    const { bytes, eofSeq } = resultSet(rows, fields);
    const r = run(bytes, [4000]);
    expect(r.stored.equals(expectedStored(rows, fields))).toBe(true);
    expect(r.seqAtHandBack).toBe(eofSeq);
    expect(r.sum).toEqual(coreChecksum(r.stored));
  });
});
