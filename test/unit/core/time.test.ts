import { describe, expect, it } from 'vitest';
import { formatMicros, parseTimeMicros } from '../../../src/util/time.js';
import { UsageError } from '../../../src/util/errors.js';

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
    expect(() => parseTimeMicros('2026-11-21 14:02:59')).toThrow(
      '"2026-11-21 14:02:59" is not a time with a zone; use ISO 8601 like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00.',
    );
  });
});
