import { MalformedEvent } from './errors.js';
import type { ByteReader } from './reader.js';

/**
 * Date and time columns, old (MySQL ≤ 5.5) and new (TIME2/DATETIME2/TIMESTAMP2, MySQL 5.6 and
 * MariaDB 10.1+) encodings, as the text types.ts promises: "2026-12-05", "-838:59:59.000000",
 * "2026-12-05 14:02:59.123456"; as many fractional digits as the column's fsp; TIMESTAMP in UTC.
 */

const pad = (n: number | bigint, width = 2): string => String(n).padStart(width, '0');

/** Bytes of the fractional part of a new-style temporal value by fsp. */
export function fractionBytes(fsp: number): number {
  return Math.floor((fsp + 1) / 2);
}

function checkFsp(fsp: number, type: string): void {
  if (fsp < 0 || fsp > 6) throw new MalformedEvent(`${type} column has fractional-second precision ${fsp}; MySQL allows 0 to 6.`);
}

/** Reads the big-endian fractional part and returns it in microseconds. */
function readFraction(r: ByteReader, fsp: number, field: string): number {
  const n = fractionBytes(fsp);
  if (n === 0) return 0;
  // stored with 2*n digits of precision: 1 byte = 1/100 s, 2 = 1/10000 s, 3 = µs
  const v = r.uintBE(n, field);
  return v * 10 ** (6 - 2 * n);
}

function fractionText(micros: number, fsp: number): string {
  if (fsp === 0) return '';
  return `.${pad(micros, 6).slice(0, fsp)}`;
}

export function dateText(year: number, month: number, day: number): string {
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}`;
}

/** DATE (and NEWDATE): 3 bytes, day | month << 5 | year << 9. */
export function readDate(r: ByteReader): string {
  const v = r.u24('a DATE value');
  return dateText(v >>> 9, (v >>> 5) & 0x0f, v & 0x1f);
}

/** YEAR: one byte, 0 for the zero year, else year - 1900. */
export function readYear(r: ByteReader): number {
  const v = r.u8('a YEAR value');
  return v === 0 ? 0 : 1900 + v;
}

/** DATETIME2: 5 bytes big-endian (sign bit, year*13+month, day, hour, minute, second) + fraction. */
export function readDatetime2(r: ByteReader, fsp: number): string {
  checkFsp(fsp, 'DATETIME');
  const hi = r.uintBE(5, 'a DATETIME value');
  const micros = readFraction(r, fsp, 'a DATETIME fraction');
  const v = hi - 0x80_0000_0000;
  const ymd = Math.floor(v / 2 ** 17);
  const hms = v % 2 ** 17;
  const ym = Math.floor(ymd / 32);
  return `${dateText(Math.floor(ym / 13), ym % 13, ymd % 32)} ${pad(Math.floor(hms / 4096))}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}${fractionText(micros, fsp)}`;
}

/** TIMESTAMP2: 4 bytes big-endian seconds since the epoch + fraction; 0 is the zero timestamp. */
export function readTimestamp2(r: ByteReader, fsp: number): string {
  checkFsp(fsp, 'TIMESTAMP');
  const seconds = r.uintBE(4, 'a TIMESTAMP value');
  const micros = readFraction(r, fsp, 'a TIMESTAMP fraction');
  return timestampText(seconds, micros, fsp);
}

/** Old TIMESTAMP: 4 bytes little-endian seconds since the epoch. */
export function readTimestamp(r: ByteReader): string {
  return timestampText(r.u32('a TIMESTAMP value'), 0, 0);
}

function timestampText(seconds: number, micros: number, fsp: number): string {
  if (seconds === 0 && micros === 0) return `0000-00-00 00:00:00${fractionText(0, fsp)}`;
  const d = new Date(seconds * 1000);
  return (
    `${dateText(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${fractionText(micros, fsp)}`
  );
}

/** Old DATETIME: 8 bytes little-endian, the decimal number YYYYMMDDhhmmss. */
export function readDatetime(r: ByteReader): string {
  const v = r.u64('a DATETIME value');
  const date = v / 1_000_000n;
  const time = v % 1_000_000n;
  return `${pad(date / 10000n, 4)}-${pad((date / 100n) % 100n)}-${pad(date % 100n)} ${pad(time / 10000n)}:${pad((time / 100n) % 100n)}:${pad(time % 100n)}`;
}

/** Old TIME: 3 bytes little-endian signed, the decimal number ±HHMMSS. */
export function readTime(r: ByteReader): string {
  let v = r.u24('a TIME value');
  if (v & 0x80_0000) v -= 0x100_0000;
  const sign = v < 0 ? '-' : '';
  const a = Math.abs(v);
  return `${sign}${pad(Math.floor(a / 10000))}:${pad(Math.floor(a / 100) % 100)}:${pad(a % 100)}`;
}

/**
 * TIME2: 3 bytes big-endian (offset 0x800000: sign, 10-bit hour, minute, second) + fraction.
 * Negative values with a fraction borrow one second (MySQL's my_time_packed_from_binary).
 */
export function readTime2(r: ByteReader, fsp: number): string {
  checkFsp(fsp, 'TIME');
  let packed: number; // (hms << 24) + µs, signed; fits a double exactly (< 2^53)
  if (fsp >= 5) {
    packed = r.uintBE(6, 'a TIME value') - 0x8000_0000_0000;
  } else {
    let intpart = r.uintBE(3, 'a TIME value') - 0x80_0000;
    let frac = 0;
    if (fsp >= 1) {
      const n = fractionBytes(fsp);
      frac = r.uintBE(n, 'a TIME fraction');
      if (intpart < 0 && frac !== 0) {
        intpart += 1;
        frac -= n === 1 ? 0x100 : 0x1_0000;
      }
      frac *= n === 1 ? 10_000 : 100;
    }
    packed = intpart * 2 ** 24 + frac;
  }
  const sign = packed < 0 ? '-' : '';
  const a = Math.abs(packed);
  const hms = Math.floor(a / 2 ** 24);
  const micros = a % 2 ** 24;
  const hour = Math.floor(hms / 4096) % 1024;
  return `${sign}${pad(hour)}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}${fractionText(micros, fsp)}`;
}

/** Packed temporal of MySQL binary JSON opaque values (TIME_to_longlong_*_packed), 8 bytes LE. */
export function packedDatetimeText(packed: bigint, kind: 'date' | 'datetime' | 'time'): string {
  const negative = packed < 0n;
  const a = negative ? -packed : packed;
  const micros = Number(a % (1n << 24n));
  const intpart = a >> 24n;
  if (kind === 'time') {
    const hms = Number(intpart);
    return `${negative ? '-' : ''}${pad(Math.floor(hms / 4096) % 1024)}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}.${pad(micros, 6)}`;
  }
  const ymdhms = Number(intpart);
  const ymd = Math.floor(ymdhms / 2 ** 17);
  const hms = ymdhms % 2 ** 17;
  const ym = Math.floor(ymd / 32);
  const date = dateText(Math.floor(ym / 13), ym % 13, ymd % 32);
  if (kind === 'date') return date;
  return `${date} ${pad(Math.floor(hms / 4096))}:${pad((hms >> 6) % 64)}:${pad(hms % 64)}.${pad(micros, 6)}`;
}

/**
 * MariaDB 5.3 fractional temporals (tables created with mysql56_temporal_format=OFF): logged as
 * the old TIME/DATETIME/TIMESTAMP type codes with no fsp in the TABLE_MAP, so the fsp must come
 * from the caller's hints. Big-endian; TIME offset by 838:59:59 + 1 s; DATETIME packs
 * ((((year*13+month)*32+day)*24+hour)*60+minute)*60+second µs.
 */
const TIME_HIRES_BYTES = [3, 4, 4, 5, 5, 5, 6] as const;
const DATETIME_HIRES_BYTES = [5, 6, 6, 7, 7, 7, 8] as const;
const SEC_PART_BYTES = [0, 1, 1, 2, 2, 3, 3] as const;
const TIME_MAX_SECONDS_PLUS_ONE = 3_020_400n;

function readBigBE(r: ByteReader, n: number, field: string): bigint {
  const b = r.bytes(n, field);
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

export function readTimeHires(r: ByteReader, fsp: number): string {
  checkFsp(fsp, 'TIME');
  const shift = 10n ** BigInt(6 - fsp);
  const packed = readBigBE(r, TIME_HIRES_BYTES[fsp]!, 'a fractional TIME value') - (TIME_MAX_SECONDS_PLUS_ONE * 1_000_000n) / shift;
  const us = packed * shift;
  const a = us < 0n ? -us : us;
  const secs = a / 1_000_000n;
  return `${us < 0n ? '-' : ''}${pad(secs / 3600n)}:${pad((secs / 60n) % 60n)}:${pad(secs % 60n)}${fractionText(Number(a % 1_000_000n), fsp)}`;
}

export function readDatetimeHires(r: ByteReader, fsp: number): string {
  checkFsp(fsp, 'DATETIME');
  let x = readBigBE(r, DATETIME_HIRES_BYTES[fsp]!, 'a fractional DATETIME value') * 10n ** BigInt(6 - fsp);
  const micros = Number(x % 1_000_000n);
  x /= 1_000_000n;
  const take = (n: bigint): bigint => {
    const v = x % n;
    x /= n;
    return v;
  };
  const sec = take(60n);
  const min = take(60n);
  const hour = take(24n);
  const day = take(32n);
  const month = take(13n);
  return `${dateText(Number(x), Number(month), Number(day))} ${pad(hour)}:${pad(min)}:${pad(sec)}${fractionText(micros, fsp)}`;
}

export function readTimestampHires(r: ByteReader, fsp: number): string {
  checkFsp(fsp, 'TIMESTAMP');
  const seconds = r.uintBE(4, 'a fractional TIMESTAMP value');
  const micros = r.uintBE(SEC_PART_BYTES[fsp]!, 'a TIMESTAMP fraction') * 10 ** (6 - fsp);
  return timestampText(seconds, micros, fsp);
}
