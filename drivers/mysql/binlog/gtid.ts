import { MalformedEvent } from './errors.js';
import type { ByteReader } from './reader.js';

/**
 * GTID events: MySQL GTID / ANONYMOUS_GTID (fixed layout, fields added over versions and found
 * by what is left), MySQL 8.4 GTID_TAGGED (serialization-library message of varint fields),
 * MariaDB GTID (flags2 and its optional parts), and the GTID sets of PREVIOUS_GTIDS (MySQL,
 * untagged and tagged) and GTID_LIST (MariaDB).
 */

export interface MysqlGtid {
  flags: number;
  gtid: string;
  tag?: string;
  lastCommitted?: bigint;
  sequenceNumber?: bigint;
  immediateCommitMicros?: bigint;
  originalCommitMicros?: bigint;
  transactionLength?: bigint;
}

export interface MariadbGtid {
  gtid: string;
  flags: number;
  standalone: boolean;
  transactional: boolean;
  ddl: boolean;
  commitId?: bigint;
  xa?: { state: 'prepared' | 'completed'; xid: string };
}

const UUID_BYTES = 16;
const LOGICAL_TIMESTAMP_TYPECODE = 2;
const COMMIT_TIMESTAMP_BYTES = 7;
/** Top bit of the 7-byte immediate commit timestamp: an original commit timestamp follows. */
const ORIGINAL_FOLLOWS = 1n << 55n;
const TAGGED_SERIALIZATION_VERSION = 2;

/** MariaDB GTID flags2. */
const FL_STANDALONE = 1;
const FL_GROUP_COMMIT_ID = 2;
const FL_TRANSACTIONAL = 4;
const FL_DDL = 32;
const FL_PREPARED_XA = 64;
const FL_COMPLETED_XA = 128;

export function uuidText(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function readMysqlGtid(r: ByteReader, anonymous: boolean): MysqlGtid {
  const flags = r.u8('the GTID flags');
  const uuid = uuidText(r.bytes(UUID_BYTES, 'the server uuid'));
  const gno = r.bytes(8, 'the transaction number').readBigInt64LE(0);
  const g: MysqlGtid = { flags, gtid: anonymous ? '' : `${uuid}:${gno}` };
  // MySQL 5.6 ends here; 5.7.4 and earlier use another typecode for a logical clock we ignore
  if (r.remaining > 0 && r.buf[r.pos] === LOGICAL_TIMESTAMP_TYPECODE) {
    r.skip(1, 'the logical clock typecode');
    g.lastCommitted = r.u64('last_committed');
    g.sequenceNumber = r.u64('sequence_number');
    if (r.remaining >= COMMIT_TIMESTAMP_BYTES) {
      const immediate = r.bigUintLE(COMMIT_TIMESTAMP_BYTES, 'immediate_commit_timestamp');
      if (immediate & ORIGINAL_FOLLOWS) {
        g.immediateCommitMicros = immediate & ~ORIGINAL_FOLLOWS;
        g.originalCommitMicros = r.bigUintLE(COMMIT_TIMESTAMP_BYTES, 'original_commit_timestamp');
      } else {
        g.immediateCommitMicros = immediate;
        g.originalCommitMicros = immediate;
      }
      if (r.remaining > 0) g.transactionLength = r.lenenc('the transaction length');
    }
  }
  return g;
}

/** GTID_TAGGED: version byte, payload size, last non-ignorable field id, then (id, value) pairs. */
export function readTaggedGtid(r: ByteReader): MysqlGtid {
  const version = r.u8('the serialization version');
  if (version !== TAGGED_SERIALIZATION_VERSION) {
    throw new MalformedEvent(`GTID_TAGGED event uses serialization version ${version}; this decoder reads version 2.`);
  }
  const start = r.pos - 1;
  const payloadSize = Number(r.varlenUint('the payload size'));
  const lastNonIgnorable = r.varlenUint('the last non-ignorable field id');
  const end = start + payloadSize;
  if (end > r.end || end < r.pos) throw new MalformedEvent(`GTID_TAGGED payload size ${payloadSize} does not fit the event.`);
  let flags = 0;
  let uuid = '';
  let gno = 0n;
  let tag = '';
  const g: Partial<MysqlGtid> = {};
  let original: bigint | undefined;
  while (r.pos < end) {
    const id = r.varlenUint('a field id');
    switch (id) {
      case 0n:
        flags = Number(r.varlenUint('the GTID flags'));
        break;
      case 1n: {
        const b = Buffer.alloc(UUID_BYTES);
        for (let i = 0; i < UUID_BYTES; i++) b[i] = Number(r.varlenUint('a uuid byte') & 0xffn);
        uuid = uuidText(b);
        break;
      }
      case 2n:
        gno = r.varlenInt('the transaction number');
        break;
      case 3n:
        tag = r.utf8(Number(r.varlenUint('the tag length')), 'the tag');
        break;
      case 4n:
        g.lastCommitted = r.varlenInt('last_committed');
        break;
      case 5n:
        g.sequenceNumber = r.varlenInt('sequence_number');
        break;
      case 6n:
        g.immediateCommitMicros = r.varlenUint('immediate_commit_timestamp');
        break;
      case 7n:
        original = r.varlenUint('original_commit_timestamp');
        break;
      case 8n:
        g.transactionLength = r.varlenUint('the transaction length');
        break;
      case 9n:
      case 10n:
      case 11n:
        r.varlenUint('a server version or commit ticket');
        break;
      default:
        if (id <= lastNonIgnorable) {
          throw new MalformedEvent(`GTID_TAGGED event has field ${id}, which this decoder does not know and may not ignore.`);
        }
        r.pos = end;
    }
  }
  const gtid = tag ? `${uuid}:${tag}:${gno}` : `${uuid}:${gno}`;
  return {
    ...g,
    flags,
    gtid,
    ...(tag ? { tag } : {}),
    ...(g.immediateCommitMicros !== undefined ? { originalCommitMicros: original ?? g.immediateCommitMicros } : {}),
  };
}

export function readMariadbGtid(r: ByteReader, serverId: number): MariadbGtid {
  const seq = r.u64('the sequence number');
  const domain = r.u32('the domain id');
  const flags = r.u8('flags2');
  const g: MariadbGtid = {
    gtid: `${domain}-${serverId}-${seq}`,
    flags,
    standalone: (flags & FL_STANDALONE) !== 0,
    transactional: (flags & FL_TRANSACTIONAL) !== 0,
    ddl: (flags & FL_DDL) !== 0,
  };
  if (flags & FL_GROUP_COMMIT_ID) g.commitId = r.u64('the commit id');
  if (flags & (FL_PREPARED_XA | FL_COMPLETED_XA)) {
    const formatId = r.u32('the XA format id');
    const gtridLength = r.u8('the XA gtrid length');
    const bqualLength = r.u8('the XA bqual length');
    const gtrid = r.bytes(gtridLength, 'the XA gtrid').toString('hex');
    const bqual = r.bytes(bqualLength, 'the XA bqual').toString('hex');
    g.xa = { state: flags & FL_PREPARED_XA ? 'prepared' : 'completed', xid: `X'${gtrid}',X'${bqual}',${formatId}` };
  }
  // flags_extra (multi-engine, ALTER phases, …) follow; nothing the driver uses
  return g;
}

/** MariaDB GTID_LIST: count (low 28 bits) then (domain, server, seq) triples. */
export function readGtidList(r: ByteReader): string {
  const count = r.u32('the GTID count') & 0x0fff_ffff;
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const domain = r.u32('a domain id');
    const server = r.u32('a server id');
    const seq = r.u64('a sequence number');
    out.push(`${domain}-${server}-${seq}`);
  }
  return out.join(',');
}

/** MySQL PREVIOUS_GTIDS: a GTID set as MySQL prints it, `uuid:1-5:7:tag:1-3,uuid2:1-9` (intervals are half-open on disk). */
export function readPreviousGtids(r: ByteReader): string {
  const head = r.u64('the set header');
  const tagged = head >> 56n !== 0n;
  const sids = Number(tagged ? (head >> 8n) & 0xffff_ffff_ffffn : head & 0xff_ffff_ffff_ffffn);
  if (sids * UUID_BYTES > r.remaining) throw new MalformedEvent(`PREVIOUS_GTIDS lists ${sids} server uuids, more than its ${r.remaining} bytes hold.`);
  const out: string[] = [];
  for (let i = 0; i < sids; i++) {
    const uuid = uuidText(r.bytes(UUID_BYTES, 'a server uuid'));
    const tag = tagged ? r.utf8(Number(r.varlenUint('a tag length')), 'a tag') : '';
    const n = r.u64('an interval count');
    if (n * 16n > BigInt(r.remaining)) throw new MalformedEvent(`PREVIOUS_GTIDS lists ${n} intervals, more than its ${r.remaining} bytes hold.`);
    const intervals: string[] = [];
    for (let k = 0n; k < n; k++) {
      const start = r.u64('an interval start');
      const end = r.u64('an interval end') - 1n;
      intervals.push(end === start ? `${start}` : `${start}-${end}`);
    }
    const part = `${tag ? `${tag}:` : ''}${intervals.join(':')}`;
    // MySQL's own text form names a uuid once: `uuid:1-13:tag:1-2`
    const last = out[out.length - 1];
    if (last?.startsWith(`${uuid}:`)) out[out.length - 1] = `${last}:${part}`;
    else out.push(`${uuid}:${part}`);
  }
  return out.join(',');
}
