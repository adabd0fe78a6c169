/**
 * Microsecond-precision times. Commit times are bigint µs since the Unix epoch (UTC); JavaScript
 * Dates hold only milliseconds, so parsing and printing keep the extra digits by hand.
 */
import { UsageError } from './errors.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** Parses ISO 8601 with a zone (`2026-11-21T14:02:59.123456+01:00`) to µs since epoch. */
export function parseTimeMicros(text: string): bigint {
  const m = ISO.exec(text.trim());
  if (!m) {
    throw new UsageError(
      `"${text}" is not a time with a zone; use ISO 8601 like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00.`,
    );
  }
  const [, y, mo, d, h, mi, s, frac = '', zone = 'Z'] = m;
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (Number.isNaN(ms)) throw new UsageError(`"${text}" is not a valid calendar time.`);
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
  }
  const micros = BigInt(frac.padEnd(6, '0').slice(0, 6));
  return (BigInt(ms) - BigInt(offsetMin) * 60_000n) * 1000n + micros;
}

/** µs since epoch -> `2026-11-21T14:02:59.123456Z`. */
export function formatMicros(us: bigint): string {
  const ms = us / 1000n;
  const rest = us % 1_000_000n;
  const base = new Date(Number(ms)).toISOString().slice(0, 19);
  return `${base}.${(rest < 0n ? rest + 1_000_000n : rest).toString().padStart(6, '0')}Z`;
}

export function dateToMicros(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}
