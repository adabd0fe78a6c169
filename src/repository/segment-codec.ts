/**
 * Framing of transactions inside a log segment (format `crmb-log/1`, docs/FORMAT.md).
 * The core frames; the payload inside belongs to the driver and is never parsed here.
 *
 *   segment := MAGIC record*
 *   record  := u32 length-of-rest | u8 flags | u16 posLen | pos | i64 commitTime | u32 changes
 *              | u16 tableCount | (u16 len | utf8)* | u32 payloadLen | payload      (big-endian)
 */
import type { Transaction } from '../driver/source-driver.js';
import { IntegrityError } from '../util/errors.js';

export const SEGMENT_MAGIC = Buffer.from('CRMBLOG1', 'ascii');
const U32 = 4;
const FLAG_MORE = 0x01;
/** Since format 1.2; readers before it ignore the bit. */
const FLAG_SCHEMA_CHANGE = 0x02;
/** Parts are bounded by drivers (a few MiB); anything far larger is damage, not data. */
export const MAX_RECORD_BYTES = 512 * 1024 * 1024;

export function encodeTransaction(tx: Transaction): Buffer {
  const pos = Buffer.from(tx.position, 'utf8');
  const tables = (tx.tables ?? []).map((t) => Buffer.from(t, 'utf8'));
  const fixed = 1 + 2 + pos.length + 8 + 4 + 2 + tables.reduce((n, t) => n + 2 + t.length, 0) + 4;
  const out = Buffer.allocUnsafe(U32 + fixed + tx.payload.length);
  let o = out.writeUInt32BE(fixed + tx.payload.length, 0);
  o = out.writeUInt8((tx.more ? FLAG_MORE : 0) | (tx.schemaChange ? FLAG_SCHEMA_CHANGE : 0), o);
  o = out.writeUInt16BE(pos.length, o);
  o += pos.copy(out, o);
  o = out.writeBigInt64BE(tx.commitTime, o);
  o = out.writeUInt32BE(tx.changes, o);
  o = out.writeUInt16BE(tables.length, o);
  for (const t of tables) {
    o = out.writeUInt16BE(t.length, o);
    o += t.copy(out, o);
  }
  o = out.writeUInt32BE(tx.payload.length, o);
  out.set(tx.payload, o);
  return out;
}

function decodeRecord(rec: Buffer, context: string): Transaction {
  let o = 0;
  const flags = rec.readUInt8(o++);
  const posLen = rec.readUInt16BE(o);
  o += 2;
  const position = rec.toString('utf8', o, o + posLen);
  o += posLen;
  const commitTime = rec.readBigInt64BE(o);
  o += 8;
  const changes = rec.readUInt32BE(o);
  o += 4;
  const tableCount = rec.readUInt16BE(o);
  o += 2;
  const tables: string[] = [];
  for (let i = 0; i < tableCount; i++) {
    const len = rec.readUInt16BE(o);
    o += 2;
    tables.push(rec.toString('utf8', o, o + len));
    o += len;
  }
  const payloadLen = rec.readUInt32BE(o);
  o += 4;
  if (o + payloadLen !== rec.length) {
    throw new IntegrityError(`A log record in ${context} has an inconsistent length.`, { what: context });
  }
  const tx: Transaction = {
    position,
    commitTime,
    changes,
    tables,
    payload: rec.subarray(o),
    more: (flags & FLAG_MORE) !== 0,
    ...((flags & FLAG_SCHEMA_CHANGE) !== 0 ? { schemaChange: true } : {}),
  };
  return tx;
}

/** Parses a segment stream cut at arbitrary boundaries; throws IntegrityError on a torn or foreign stream. */
export async function* decodeSegment(
  data: AsyncIterable<Uint8Array>,
  context: string,
): AsyncGenerator<Transaction> {
  let buf = Buffer.alloc(0);
  let magicSeen = false;
  for await (const piece of data) {
    buf = buf.length === 0 ? Buffer.from(piece) : Buffer.concat([buf, piece]);
    if (!magicSeen) {
      if (buf.length < SEGMENT_MAGIC.length) continue;
      if (!buf.subarray(0, SEGMENT_MAGIC.length).equals(SEGMENT_MAGIC)) {
        throw new IntegrityError(`${context} is not a crm-backup log segment (bad magic).`, {
          what: context,
        });
      }
      buf = buf.subarray(SEGMENT_MAGIC.length);
      magicSeen = true;
    }
    while (buf.length >= U32) {
      const len = buf.readUInt32BE(0);
      if (len > MAX_RECORD_BYTES) {
        throw new IntegrityError(`A log record in ${context} claims ${len} bytes; the stream is damaged.`, {
          what: context,
        });
      }
      if (buf.length < U32 + len) break;
      yield decodeRecord(buf.subarray(U32, U32 + len), context);
      buf = buf.subarray(U32 + len);
    }
  }
  if (!magicSeen || buf.length > 0) {
    throw new IntegrityError(`${context} ends in the middle of a record; the segment is truncated.`, {
      what: context,
    });
  }
}
