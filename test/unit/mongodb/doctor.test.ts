/**
 * `doctor` for MongoDB without a server: a server that is down answers within seconds, in one
 * sentence (a closed port on this machine), and the oplog window is compared with the stream's
 * last stored position — lost already (a resume point older than the oldest entry, e.g. `1.1`),
 * close to being lost, or safe — in the sentences the finding prints.
 */
import { describe, expect, it } from 'vitest';
import { driver } from '../../../drivers/mongodb/index.js';
import { oplogFinding } from '../../../drivers/mongodb/preflight.js';
import { runCli } from '../../helpers/cli.js';

// port 1: nothing listens there
const DOWN = 'mongodb://backup:s3cret@127.0.0.1:1/crm';
const SENTENCE = 'Cannot connect to mongodb://backup@127.0.0.1:1/crm: connect ECONNREFUSED 127.0.0.1:1.';

describe('doctor on a server that is down', () => {
  it('the preflight gives up within seconds, not the 30 s of a default client', async () => {
    const source = await driver.openSource(DOWN, { name: 'crm' });
    const started = Date.now();
    await expect(source.preflight('snapshot')).rejects.toThrow(SENTENCE);
    expect(Date.now() - started).toBeLessThan(10_000);
    await source.close();
  });

  it('the CLI prints the one sentence, no password, and exits 1', async () => {
    const r = await runCli(['doctor', '--source', DOWN], { env: { CRM_BACKUP_REPO: undefined } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`crm-backup: ${SENTENCE}`);
    expect(r.stdout + r.stderr).not.toContain('s3cret');
  });
});

const HOUR = 3600;
const T0 = 1_700_000_000; // 2023-11-14T22:13:20Z

describe('the oplog window against the stored position', () => {
  const window = { oldest: { t: T0, i: 1 }, newest: { t: T0 + 48 * HOUR, i: 7 }, now: T0 + 48 * HOUR + 60 };

  it('without a repository: the window alone, a warning under 24 hours', () => {
    expect(oplogFinding(window)).toEqual({
      id: 'mongodb.oplog_window',
      severity: 'ok',
      message:
        'The oplog holds 48.0 hours of changes (since 2023-11-14T22:13:20Z): a stream stopped longer than that, or a snapshot taking longer, loses its resume point.',
    });
    const short = oplogFinding({ ...window, newest: { t: T0 + 5 * HOUR, i: 0 } });
    expect(short.severity).toBe('warning');
    expect(short.fix).toBe(
      'Make the oplog hold at least 24 hours (replSetResizeOplog with minRetentionHours, or a larger oplogSizeMB).',
    );
  });

  it('a stored position older than the oldest entry (1.1): lost, and what a restart does', () => {
    expect(oplogFinding(window, { t: 1, i: 1 })).toEqual({
      id: 'mongodb.oplog_window',
      severity: 'warning',
      message:
        "The oplog holds 48.0 hours of changes (since 2023-11-14T22:13:20Z), and the stream's last stored position 1.1 (1970-01-01T00:00:01Z) is older than that: the changes in between are lost to the log, so the stream's next start records a gap and restores into it are refused.",
      fix: 'Start the stream and take a snapshot right after it; keep the oplog longer than the stream may be stopped (replSetResizeOplog with minRetentionHours, or a larger oplogSizeMB).',
    });
    // same second, earlier increment: compared as a pair
    expect(oplogFinding(window, { t: T0, i: 0 }).message).toContain('is older than that');
    expect(oplogFinding(window, { t: T0, i: 1 }).message).not.toContain('is older than that');
  });

  it('a stored position inside the window: how old it is and how long it has left', () => {
    const recent = oplogFinding(window, { t: T0 + 47 * HOUR, i: 3 });
    expect(recent).toEqual({
      id: 'mongodb.oplog_window',
      severity: 'ok',
      message:
        "The oplog holds 48.0 hours of changes (since 2023-11-14T22:13:20Z); the stream's last stored position 1700169200.3 (2023-11-16T21:13:20Z) is 1.0 hours old and leaves the oplog in about 47.0 hours at the present write rate, after which a stopped stream cannot resume without a gap.",
    });
    const old = oplogFinding(window, { t: T0 + 2 * HOUR, i: 0 });
    expect(old.severity).toBe('warning');
    expect(old.message).toContain('is 46.0 hours old and leaves the oplog in about 2.0 hours');
    expect(old.fix).toBe(
      'Start the stream now if it is stopped, and make the oplog hold more (replSetResizeOplog with minRetentionHours, or a larger oplogSizeMB).',
    );
  });
});
