/** Timestamps as microseconds since the epoch, formatted for each dialect (never `now()` in seeds). */
import type { Dialect } from './connect.js';

export const MICROS_PER_DAY = 86_400_000_000;

/** The seed's epoch: 2019-01-01 UTC plus up to a year, derived from the seed. */
export function baseMicros(seed: number): number {
  return Date.UTC(2019, 0, 1) * 1000 + (Math.abs(seed) % 365) * MICROS_PER_DAY;
}

/** `2021-03-04 05:06:07.123456+00` (PostgreSQL) or `2021-03-04 05:06:07.123456` (MySQL, session zone UTC). */
export function formatMicros(micros: number, dialect: Dialect): string {
  const ms = Math.floor(micros / 1000);
  const iso = new Date(ms).toISOString(); // 2021-03-04T05:06:07.123Z
  const frac = String(Math.floor(micros) % 1_000_000).padStart(6, '0');
  const s = `${iso.slice(0, 10)} ${iso.slice(11, 19)}.${frac}`;
  return dialect === 'pg' ? `${s}+00` : s;
}

export function formatDate(micros: number): string {
  return new Date(Math.floor(micros / 1000)).toISOString().slice(0, 10);
}
