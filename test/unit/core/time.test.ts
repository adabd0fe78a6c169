import { describe, expect, it } from 'vitest';
import { formatMicros, parseTimeMicros } from '../../../src/util/time.js';
import { UsageError } from '../../../src/util/errors.js';

const FORM = 'use ISO 8601 with a zone, like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00.';

/** The UsageError message parseTimeMicros throws for `text`. */
function refusal(text: string): string {
  try {
    parseTimeMicros(text);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`"${text}" was accepted as ${formatMicros(parseTimeMicros(text))}`);
}

describe('microsecond times', () => {
  it('parses ISO 8601 with zones and keeps microseconds', () => {
    const utc = parseTimeMicros('2026-11-21T14:02:59.123456Z');
    expect(formatMicros(utc)).toBe('2026-11-21T14:02:59.123456Z');
    expect(parseTimeMicros('2026-11-21T15:02:59.123456+01:00')).toBe(utc);
    expect(parseTimeMicros('2026-11-21 09:02:59.123456-0500')).toBe(utc);
    expect(parseTimeMicros('2026-11-21T14:02:59Z')).toBe(utc - 123456n);
  });

  it('refuses a time without a zone, with one sentence', () => {
    expect(() => parseTimeMicros('2026-11-21 14:02:59')).toThrow(UsageError);
    expect(refusal('2026-11-21 14:02:59')).toBe(
      '"2026-11-21 14:02:59" is not a time with a zone; use ISO 8601 like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00.',
    );
  });

  it('accepts every zone form: Z, +hh:mm, +hhmm, +hh, lower case, and a space for T', () => {
    const utc = parseTimeMicros('2026-12-04T14:25:02Z');
    expect(parseTimeMicros('2026-12-04t14:25:02z')).toBe(utc);
    expect(parseTimeMicros('2026-12-04T15:25:02+01:00')).toBe(utc);
    expect(parseTimeMicros('2026-12-04T15:25:02+0100')).toBe(utc);
    expect(parseTimeMicros('2026-12-04T15:25:02+01')).toBe(utc);
    expect(parseTimeMicros('2026-12-04T09:55:02-04:30')).toBe(utc);
    expect(parseTimeMicros('2026-12-05T04:25:02+14:00')).toBe(utc);
    expect(parseTimeMicros('2026-12-04T02:25:02-12:00')).toBe(utc);
    expect(parseTimeMicros('2026-12-04T14:25:02-00:00')).toBe(utc);
    expect(parseTimeMicros('  2026-12-04 14:25:02Z ')).toBe(utc);
  });

  it('rolls nothing over: every field must name a real instant, or the time is refused', () => {
    expect(refusal('2026-12-04T14:85:02Z')).toBe(
      `"2026-12-04T14:85:02Z" is not a real instant: minute 85 does not exist (00–59); ${FORM}`,
    );
    expect(refusal('2026-11-34T15:25:00Z')).toBe(
      `"2026-11-34T15:25:00Z" is not a real instant: day 34 does not exist in November 2026 (01–30); ${FORM}`,
    );
    expect(refusal('2026-13-45T00:00:00Z')).toBe(
      `"2026-13-45T00:00:00Z" is not a real instant: month 13 does not exist (01–12); ${FORM}`,
    );
    expect(refusal('2026-00-10T00:00:00Z')).toContain('month 00 does not exist (01–12)');
    expect(refusal('2026-04-00T00:00:00Z')).toContain('day 00 does not exist in April 2026 (01–30)');
    expect(refusal('2026-04-31T00:00:00Z')).toContain('day 31 does not exist in April 2026 (01–30)');
    expect(refusal('2026-12-04T25:00:00Z')).toContain('hour 25 does not exist (00–23)');
    expect(refusal('2026-12-04T14:25:61Z')).toContain('second 61 does not exist (00–59)');
  });

  it('knows leap years: 29 February exists in 2028 and 2000, not in 2026 or 2100', () => {
    expect(formatMicros(parseTimeMicros('2028-02-29T12:00:00Z'))).toBe('2028-02-29T12:00:00.000000Z');
    expect(formatMicros(parseTimeMicros('2000-02-29T12:00:00Z'))).toBe('2000-02-29T12:00:00.000000Z');
    expect(refusal('2026-02-29T12:00:00Z')).toContain('day 29 does not exist in February 2026 (01–28)');
    expect(refusal('2100-02-29T12:00:00Z')).toContain('day 29 does not exist in February 2100 (01–28)');
  });

  it('agrees with the calendar on every day of 1899–1901, 1999–2001 and 2099–2101', () => {
    for (const first of [1899, 1999, 2099]) {
      for (let t = Date.UTC(first, 0, 1); t < Date.UTC(first + 3, 0, 1); t += 86_400_000 + 3_723_000) {
        const iso = new Date(t).toISOString(); // 2000-02-29T01:02:03.000Z
        expect(parseTimeMicros(iso)).toBe(BigInt(t) * 1000n);
      }
    }
  });

  it('refuses 24:00 and a leap second 60, saying what to write instead', () => {
    expect(refusal('2026-12-04T24:00:00Z')).toBe(
      `"2026-12-04T24:00:00Z" is not a real instant: hour 24 is not accepted (00–23; write 00:00:00 of the next day); ${FORM}`,
    );
    expect(refusal('2016-12-31T23:59:60Z')).toBe(
      `"2016-12-31T23:59:60Z" is not a real instant: second 60 (a leap second) is not accepted because database clocks do not count leap seconds (00–59; write 23:59:59.999999); ${FORM}`,
    );
  });

  it('keeps fractions to the microsecond, exact for an inclusive target, and refuses beyond nanoseconds', () => {
    // commit times are whole microseconds: "at or before .1234569" is "at or before .123456"
    expect(parseTimeMicros('2026-12-04T14:25:02.1234569Z')).toBe(parseTimeMicros('2026-12-04T14:25:02.123456Z'));
    expect(parseTimeMicros('2026-12-04T14:25:02.123456789Z')).toBe(parseTimeMicros('2026-12-04T14:25:02.123456Z'));
    expect(refusal('2026-12-04T14:25:02.1234567891Z')).toBe(
      `"2026-12-04T14:25:02.1234567891Z" is not a real instant: 10 fraction digits are more than the 9 accepted (nanoseconds; a restore is exact to the microsecond); ${FORM}`,
    );
  });

  it('refuses zone offsets no zone uses (beyond ±14:00) and minutes beyond 59', () => {
    expect(refusal('2026-12-04T14:25:02+15:00')).toBe(
      `"2026-12-04T14:25:02+15:00" is not a real instant: zone offset +15:00 is beyond ±14:00, the widest offset in use; ${FORM}`,
    );
    expect(refusal('2026-12-04T14:25:02-1401')).toContain('zone offset -14:01 is beyond ±14:00');
    expect(refusal('2026-12-04T14:25:02+01:75')).toContain('zone offset +01:75 has minute 75 (00–59)');
  });

  it('prints instants before 1970 and fractions of negative seconds correctly', () => {
    expect(formatMicros(parseTimeMicros('1969-12-31T23:59:59.5Z'))).toBe('1969-12-31T23:59:59.500000Z');
    expect(formatMicros(-1n)).toBe('1969-12-31T23:59:59.999999Z');
  });
});
