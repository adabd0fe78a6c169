/**
 * `restore --at` takes only real instants: a time whose fields roll over (minute 85, 34 November,
 * month 13) is refused with exit 2 before the repository is opened, never restored as another
 * instant.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';

const FORM = 'use ISO 8601 with a zone, like 2026-11-21T14:02:59Z or 2026-11-21 14:02:59.5+01:00.';

describe('restore --at refuses a time that is not a real instant', () => {
  it.each([
    ['2026-12-04T14:85:02Z', 'minute 85 does not exist (00–59)'],
    ['2026-11-34T15:25:00Z', 'day 34 does not exist in November 2026 (01–30)'],
    ['2026-13-45T10:00:00+01:00', 'month 13 does not exist (01–12)'],
    ['2027-02-29 10:00:00Z', 'day 29 does not exist in February 2027 (01–28)'],
    ['2026-12-04T14:25:02+20:00', 'zone offset +20:00 is beyond ±14:00, the widest offset in use'],
  ])('%s: exit 2, "%s"', async (at, why) => {
    const r = await runCli(
      ['restore', '--repo', '/nonexistent', '--target', 'postgres://x@h/db', '--at', at],
      {
        env: { CRM_BACKUP_PASSWORD: 'x' },
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`crm-backup: "${at}" is not a real instant: ${why}; ${FORM}`);
  });

  it('--wait takes a limit like 90s, 15m or 2h, and refuses anything else with exit 2', async () => {
    const r = await runCli(
      [
        'restore',
        '--repo',
        '/nonexistent',
        '--target',
        'postgres://x@h/db',
        '--at',
        '2026-12-04T14:25:02Z',
        '--wait',
        '10 minutes',
      ],
      { env: { CRM_BACKUP_PASSWORD: 'x' } },
    );
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      'crm-backup: --wait 10 minutes: give how long to wait at most, like 90s, 15m or 2h, or no value to wait as long as the stream runs.',
    );
  });
});
