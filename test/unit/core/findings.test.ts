/**
 * What the core does with preflight findings: doctor merges the results of its two needs by
 * id and subject, and a job refuses with the first error as "<message> <fix>".
 */
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../../src/driver/finding.js';
import { mergeFindings, refuseOnErrors } from '../../../src/driver/preflight.js';
import { formatFinding } from '../../../src/cli/cmd-doctor.js';
import { SourceError } from '../../../src/util/errors.js';
import { memoryLogger } from '../../../src/util/log.js';

const walLevel: Finding = {
  id: 'pg.wal_level',
  severity: 'error',
  subject: 'wal_level',
  message: 'wal_level is "replica"; logical decoding needs "logical".',
  fix: 'Set wal_level = logical in postgresql.conf and restart PostgreSQL.',
};

describe('mergeFindings', () => {
  it('keeps one finding per id and subject, the stricter severity winning either way round', () => {
    const info: Finding = { id: 'x.keep', severity: 'info', subject: 'wal', message: 'Fine for a snapshot.' };
    const warning: Finding = {
      id: 'x.keep',
      severity: 'warning',
      subject: 'wal',
      message: 'Unlimited; a stream may fill the disk.',
      fix: 'Limit it.',
    };
    expect(mergeFindings([[info], [warning]])).toEqual([warning]);
    expect(mergeFindings([[warning], [info]])).toEqual([warning]);
  });

  it('merges the same check reported by both needs into one, in first-seen order', () => {
    const version: Finding = { id: 'pg.version', severity: 'ok', message: 'PostgreSQL 16.' };
    const merged = mergeFindings([
      [version, walLevel],
      [version, { ...walLevel }, { id: 'pg.create_publication', severity: 'error', message: 'No CREATE.' }],
    ]);
    expect(merged.map((f) => f.id)).toEqual(['pg.version', 'pg.wal_level', 'pg.create_publication']);
  });

  it('keeps findings of one check about different subjects apart', () => {
    const table = (t: string): Finding => ({
      id: 'pg.replica_identity',
      severity: 'warning',
      subject: t,
      message: `Table ${t} has no key.`,
    });
    expect(mergeFindings([[table('a'), table('b')], [table('b')]]).map((f) => f.subject)).toEqual(['a', 'b']);
  });
});

describe('doctor output', () => {
  it('prints the id and the message on one line and the fix once, under it', () => {
    expect(formatFinding(walLevel)).toBe(
      'FAIL  [pg.wal_level] wal_level is "replica"; logical decoding needs "logical".\n' +
        '      Fix: Set wal_level = logical in postgresql.conf and restart PostgreSQL.',
    );
    expect(formatFinding({ id: 'pg.version', severity: 'ok', message: 'PostgreSQL 16.' })).toBe(
      'ok    [pg.version] PostgreSQL 16.',
    );
  });
});

describe('refuseOnErrors', () => {
  it('refuses with the first error as "<message> <fix>" and logs the others and the warnings', () => {
    const log = memoryLogger();
    const err = (() => {
      try {
        refuseOnErrors(
          [
            { id: 'pg.version', severity: 'ok', message: 'PostgreSQL 16.' },
            {
              id: 'pg.large_objects',
              severity: 'warning',
              message: 'Large objects are not captured.',
              fix: 'Use bytea.',
            },
            walLevel,
            {
              id: 'pg.wal_senders',
              severity: 'error',
              message: 'All 10 WAL senders are busy.',
              fix: 'Raise it.',
            },
          ],
          log,
        );
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(SourceError);
    expect((err as Error).message).toBe(
      'wal_level is "replica"; logical decoding needs "logical". Set wal_level = logical in postgresql.conf and restart PostgreSQL.',
    );
    expect(log.events.map((e) => [e.level, e.event, e.message])).toEqual([
      ['warn', 'preflight.pg.large_objects', 'Large objects are not captured. Use bytea.'],
      ['error', 'preflight.pg.wal_senders', 'All 10 WAL senders are busy. Raise it.'],
    ]);
  });

  it('refuses with the message alone when there is no fix, and lets ok, info and warnings pass', () => {
    expect(() =>
      refuseOnErrors(
        [{ id: 'x.down', severity: 'error', message: 'The server is read-only.' }],
        memoryLogger(),
      ),
    ).toThrow(/^The server is read-only\.$/);
    expect(() =>
      refuseOnErrors(
        [
          { id: 'a', severity: 'info', message: 'Info.' },
          { id: 'b', severity: 'warning', message: 'Warn.' },
        ],
        memoryLogger(),
      ),
    ).not.toThrow();
  });
});
