/**
 * The decoder works on whole events, so the split-buffer habit becomes: an event cut at every
 * byte must give a BinlogFormatError, never a wrong value or a crash. Two cuts per length: as a
 * reader would see it (the header still gives the full length), and with the header and CRC32
 * rewritten to the cut length, so the body parsers themselves meet the short input. The second
 * may decode when the cut falls between rows or optional metadata fields; what it then gives
 * must be a prefix of the real event, never a different value.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../../drivers/mysql/binlog/crc32.js';
import { BinlogDecoder, BinlogFormatError, EventType } from '../../../drivers/mysql/binlog/index.js';
import type { BinlogEvent } from '../../../drivers/mysql/binlog/index.js';
import { PUBLIC_BINLOGS, havePublicBinlogs } from './binlog-helpers.js';

interface RawEvent {
  readonly offset: number;
  readonly bytes: Buffer;
}

function splitEvents(path: string): RawEvent[] {
  const file = readFileSync(path);
  const out: RawEvent[] = [];
  for (let offset = 4; offset < file.length; ) {
    const size = file.readUInt32LE(offset + 9);
    out.push({ offset, bytes: file.subarray(offset, offset + size) });
    offset += size;
  }
  return out;
}

/** A decoder that has seen the FORMAT_DESCRIPTION and every TABLE_MAP before event `i`. */
function primed(events: readonly RawEvent[], i: number): BinlogDecoder {
  const d = new BinlogDecoder({ file: 'cut' });
  for (const e of events.slice(0, i)) {
    const type = e.bytes[4];
    if (type === EventType.FORMAT_DESCRIPTION || type === EventType.TABLE_MAP) d.decode(e.bytes, e.offset);
  }
  return d;
}

/** The event cut to `length` bytes with its size (and CRC32, when `crc`) rewritten to match. */
function consistentCut(bytes: Buffer, length: number, crc: boolean): Buffer {
  const cut = Buffer.from(bytes.subarray(0, length));
  if (crc) {
    const withCrc = Buffer.concat([cut, Buffer.alloc(4)]);
    withCrc.writeUInt32LE(withCrc.length, 9);
    withCrc.writeUInt32LE(crc32(withCrc, 0, withCrc.length - 4), withCrc.length - 4);
    return withCrc;
  }
  cut.writeUInt32LE(length, 9);
  return cut;
}

/** A decoded event's values without the header and position fields that the cut changes. */
function content(ev: BinlogEvent): unknown {
  const { header: _h, offset: _o, file: _f, ...rest } = ev as BinlogEvent & Record<string, unknown>;
  return rest;
}

function checkFile(path: string, crc: boolean): number {
  const events = splitEvents(path);
  let checked = 0;
  events.forEach((e, i) => {
    if (e.bytes[4] === EventType.FORMAT_DESCRIPTION) return;
    const full = primed(events, i).decode(e.bytes, e.offset);
    const body = e.bytes.length - (crc ? 4 : 0);
    for (let length = 0; length < e.bytes.length; length++) {
      // as read: the header promises more than there is
      expect(() => primed(events, i).decode(e.bytes.subarray(0, length), e.offset)).toThrow(BinlogFormatError);
      if (length < 19 || length >= body) continue;
      let got: BinlogEvent[];
      try {
        got = primed(events, i).decode(consistentCut(e.bytes, length, crc), e.offset);
      } catch (err) {
        expect(err, `${path} event at ${e.offset} cut to ${length}`).toBeInstanceOf(BinlogFormatError);
        checked++;
        continue;
      }
      // decoded: only a shorter but true reading is allowed
      expect(got).toHaveLength(full.length);
      got.forEach((ev, k) => {
        const whole = full[k]!;
        expect(ev.kind).toBe(whole.kind);
        if (ev.kind === 'rows' && whole.kind === 'rows') {
          expect(whole.rows.slice(0, ev.rows.length), `${path} at ${e.offset} cut to ${length}`).toEqual(ev.rows);
        } else if (ev.kind === 'table-map' && whole.kind === 'table-map') {
          expect(ev.columns.map((c) => [c.type, c.meta, c.nullable])).toEqual(whole.columns.map((c) => [c.type, c.meta, c.nullable]));
        } else if (ev.kind === 'query' && whole.kind === 'query') {
          expect(whole.sql.startsWith(ev.sql)).toBe(true);
        } else if (ev.kind !== 'other' && ev.kind !== 'annotate-rows' && ev.kind !== 'heartbeat' && ev.kind !== 'rotate') {
          // fields an older server would not have written may be missing; those present are right
          const cut = content(ev) as Record<string, unknown>;
          const all = content(whole) as Record<string, unknown>;
          for (const key of Object.keys(cut)) expect(cut[key], `${path} at ${e.offset} cut to ${length}: ${key}`).toEqual(all[key]);
        }
      });
      checked++;
    }
  });
  return checked;
}

describe('events cut at every byte', () => {
  it('recorded MariaDB binlog with CRC32', () => {
    expect(checkFile('test/fixtures/mysql-binlogs/mariadb-10.11-full.000001', true)).toBeGreaterThan(1000);
  });

  it('recorded MariaDB binlog with compressed events, no checksums', () => {
    expect(checkFile('test/fixtures/mysql-binlogs/mariadb-10.11-compressed-nolog.000001', false)).toBeGreaterThan(1000);
  });

  it.skipIf(!havePublicBinlogs).each([
    'json.binlog.000001',
    'json-opaque.binlog',
    'transaction_compression.000001',
    'binlog_transaction_with_GTID_TAG.000001',
    'mysql-enum-string-set.000001',
    'vector.binlog',
  ])('public MySQL binlog %s', (name) => {
    expect(checkFile(join(PUBLIC_BINLOGS, name), true)).toBeGreaterThan(100);
  });

  it('a flipped byte fails the CRC32 with the file and offset named', () => {
    const events = splitEvents('test/fixtures/mysql-binlogs/mariadb-10.11-full.000001');
    const i = events.findIndex((e) => e.bytes[4] === EventType.TABLE_MAP);
    const bad = Buffer.from(events[i]!.bytes);
    bad[25] = bad[25]! ^ 0x01;
    expect(() => primed(events, i).decode(bad, events[i]!.offset)).toThrow(
      new RegExp(`^cut at offset ${events[i]!.offset}: TABLE_MAP event has CRC32 0x[0-9a-f]{8}, its bytes give 0x[0-9a-f]{8}: the event is damaged\\.$`),
    );
  });
});
