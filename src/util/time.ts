/**
 * Microsecond-precision times. Commit times are bigint µs since the Unix epoch (UTC); JavaScript
 * Dates hold only milliseconds, so parsing and printing keep the extra digits by hand.
 */
import { UsageError } from './errors.js';

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)$/i;
const FORM = 'use ISO 8601 with a zone, like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00';
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
] as const;
/** More digits than this are refused; beyond 6 they are dropped (exact: commit times are whole µs). */
const MAX_FRACTION_DIGITS = 9;
/** The widest offset any time zone uses (UTC+14, Line Islands), in minutes, both ways. */
const MAX_OFFSET_MINUTES = 14 * 60;
const US_PER_SECOND = 1_000_000n;

/**
 * Parses ISO 8601 with a zone (`2026-11-21T14:02:59.123456+01:00`, `+0100`, `+01`, `Z`) to µs
 * since the epoch. Every field must name a real instant: nothing is rolled over (minute 85 is not
 * 15:25), 24:00 and the leap second :60 are refused, and so are offsets beyond ±14:00. Fraction
 * digits after the sixth (up to nanoseconds) are dropped, which is exact for an inclusive target
 * because commit times are whole microseconds.
 */
export function parseTimeMicros(text: string): bigint {
  const m = ISO.exec(text.trim());
  if (!m) {
    throw new UsageError(
      `"${text}" is not a time with a zone; use ISO 8601 like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00.`,
    );
  }
  const [, y = '', mo = '', d = '', h = '', mi = '', s = '', frac = '', zone = 'Z'] = m;
  const not = (why: string): UsageError =>
    new UsageError(`"${text}" is not a real instant: ${why}; ${FORM}.`);
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12) throw not(`month ${mo} does not exist (01–12)`);
  const days = daysInMonth(year, month);
  if (day < 1 || day > days) throw not(`day ${d} does not exist in ${MONTHS[month - 1]} ${y} (01–${days})`);
  if (h === '24') throw not('hour 24 is not accepted (00–23; write 00:00:00 of the next day)');
  if (Number(h) > 23) throw not(`hour ${h} does not exist (00–23)`);
  if (Number(mi) > 59) throw not(`minute ${mi} does not exist (00–59)`);
  if (s === '60')
    throw not(
      'second 60 (a leap second) is not accepted because database clocks do not count leap seconds (00–59; write 23:59:59.999999)',
    );
  if (Number(s) > 59) throw not(`second ${s} does not exist (00–59)`);
  if (frac.length > MAX_FRACTION_DIGITS)
    throw not(
      `${frac.length} fraction digits are more than the ${MAX_FRACTION_DIGITS} accepted (nanoseconds; a restore is exact to the microsecond)`,
    );
  let offsetMin = 0;
  if (zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const oh = digits.slice(0, 2);
    const om = digits.slice(2, 4) || '00';
    const shown = `${zone[0]}${oh}:${om}`;
    if (Number(om) > 59) throw not(`zone offset ${shown} has minute ${om} (00–59)`);
    offsetMin = sign * (Number(oh) * 60 + Number(om));
    if (Math.abs(offsetMin) > MAX_OFFSET_MINUTES)
      throw not(`zone offset ${shown} is beyond ±14:00, the widest offset in use`);
  }
  const seconds =
    daysFromCivil(year, month, day) * 86_400n +
    BigInt(Number(h) * 3600 + Number(mi) * 60 + Number(s) - offsetMin * 60);
  return seconds * US_PER_SECOND + BigInt(frac.padEnd(6, '0').slice(0, 6));
}

/** µs since epoch -> `2026-11-21T14:02:59.123456Z` (instants before 1970 too). */
export function formatMicros(us: bigint): string {
  let seconds = us / US_PER_SECOND;
  let rest = us % US_PER_SECOND;
  if (rest < 0n) {
    rest += US_PER_SECOND;
    seconds -= 1n;
  }
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${base}.${rest.toString().padStart(6, '0')}Z`;
}

export function dateToMicros(d: Date): bigint {
  return BigInt(d.getTime()) * 1000n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil): no Date quirks for years below 100. */
function daysFromCivil(year: number, month: number, day: number): bigint {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return BigInt(era * 146_097 + doe - 719_468);
}

const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration as a user types it: `90s`, `15m`, `26h`, `2d`, or a bare number of seconds. Returns
 * milliseconds, or undefined when the text is not one (the caller names the option in its message).
 */
export function parseDurationMs(text: string): number | undefined {
  const m = /^(\d+)\s*([smhd])?$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (n <= 0) return undefined;
  return n * DURATION_UNITS_MS[(m[2] ?? 's').toLowerCase() as keyof typeof DURATION_UNITS_MS];
}

/** A duration for people, at most two units: `14s`, `5m 12s`, `26h 3m`, `3d 4h`. */
export function formatAge(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let s = Math.floor(Math.abs(ms) / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    const n = Math.floor(s / size);
    s -= n * size;
    if (n > 0 || (unit === 's' && parts.length === 0)) parts.push(`${n}${unit}`);
    if (parts.length === 2) break;
  }
  // `1d` and `0s` stand alone; a second unit that is zero is dropped (`2h`, not `2h 0m`)
  return sign + parts.filter((p, i) => i === 0 || !p.startsWith('0')).join(' ');
}
