/**
 * synchronous_standby_names matching: a logical walsender named there (or by `*`) would make every
 * commit wait for the stream.
 */
import { describe, expect, it } from 'vitest';
import { syncStandbyMatches } from '../../../drivers/postgres/preflight.js';

const APP = 'crm-backup';

describe('syncStandbyMatches', () => {
  it.each([
    ['*', true],
    ['  * ', true],
    ['"*"', true],
    ['"crm-backup"', true],
    ['"CRM-Backup"', true],
    ['standby1, "crm-backup"', true],
    ['standby1,*', true],
    ['FIRST 1 (standby1, "crm-backup")', true],
    ['first 2(standby1,*)', true],
    ['ANY 1 ("crm-backup", s2)', true],
    ['2 (s1, "crm-backup")', true],
    ['', false],
    ['standby1', false],
    ['standby1, standby2', false],
    ['FIRST 1 (standby1, standby2)', false],
    ['ANY 2 (s1, s2, s3)', false],
    ['"crm-backup-2", crm', false],
    ['"crm""backup"', false],
  ])('%j -> %s', (setting, expected) => {
    expect(syncStandbyMatches(setting, APP)).toBe(expected);
  });

  it('does not take the FIRST/ANY keyword or the count for a standby name', () => {
    expect(syncStandbyMatches('FIRST 1 (s1)', 'first')).toBe(false);
    expect(syncStandbyMatches('ANY 1 (s1)', '1')).toBe(false);
    expect(syncStandbyMatches('first, s1', 'first')).toBe(true);
  });

  it('compares names case-insensitively and undoubles quotes', () => {
    expect(syncStandbyMatches('Crm_Backup', 'crm_backup')).toBe(true);
    expect(syncStandbyMatches('"a""b"', 'a"b')).toBe(true);
  });
});
