/**
 * crm-backup check without a database: the facts read from a repository of fake-driver manifests
 * (positions are unpadded decimals, so any string ordering shows up), each check's exact sentence
 * at and past its threshold, and the Prometheus exposition read back by a strict parser.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_THRESHOLDS,
  formatLimit,
  judge,
  type CheckResult,
  type Thresholds,
} from '../../../src/health/checks.js';
import { readHealth, type RepositoryHealth } from '../../../src/health/health.js';
import { escapeLabelValue, formatPrometheus } from '../../../src/health/prometheus.js';
import { formatHuman, formatNagios } from '../../../src/health/report.js';
import type { Repository } from '../../../src/repository/repository-api.js';
import { formatAge, formatMicros, parseDurationMs } from '../../../src/util/time.js';
import { fakeDriver, onlyDriver } from '../../helpers/fake-driver.js';
import { fakeSegment, fakeSnapshot, S, SOURCE, T0, txs } from '../../helpers/fake-repo.js';
import { parsePrometheusText, promValue } from '../../helpers/prometheus-text.js';
import { newRepo } from '../repository/helpers.js';

const at = (second: number): Date => new Date(Number((T0 + BigInt(second) * S) / 1000n));
const time = (second: number, minusMicros = 0n): string =>
  formatMicros(T0 + BigInt(second) * S - minusMicros);

async function health(repo: Repository, second: number, names?: string[]): Promise<RepositoryHealth> {
  return readHealth(repo, {
    drivers: onlyDriver(fakeDriver()),
    now: () => at(second),
    ...(names ? { names } : {}),
  });
}

function checks(h: RepositoryHealth, limits: Thresholds = DEFAULT_THRESHOLDS): Record<string, CheckResult> {
  const v = judge(h, limits);
  return Object.fromEntries(v.sources[0]!.checks.map((c) => [c.check, c]));
}

/** Snapshot at position 9 (second 0); the log 9 → [10, 11, 12] at seconds 10–12. */
async function healthyRepo(): Promise<{ repo: Repository; snapshot: string }> {
  const { repo } = await newRepo();
  const snapshot = await fakeSnapshot(repo, { position: 9, second: 0 });
  await fakeSegment(repo, 9, txs([10, 11, 12], 10));
  return { repo, snapshot };
}

describe('check', () => {
  it('passes a source with a fresh snapshot, a live stream and the log stored up to now', async () => {
    const { repo, snapshot } = await healthyRepo();
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: SOURCE, segmentSeconds: 1 },
    });
    const h = await health(repo, 60);
    const v = judge(h);
    expect(v.ok).toBe(true);
    const c = checks(h);
    expect(c.snapshot).toEqual({
      check: 'snapshot',
      status: 'ok',
      message: `newest full snapshot ${snapshot.slice(0, 12)} taken at ${time(0)}, 1m ago`,
    });
    expect(c.stream!.status).toBe('ok');
    expect(c.stream!.message).toMatch(
      new RegExp(
        `^running as pid ${process.pid} on ${hostname()}, stores a segment every 1 s, lock refreshed \\S+ ago$`,
      ),
    );
    // the log is complete up to 1 µs before the newest commit (second 12)
    expect(c.log!.message).toBe(`the newest instant crm can be restored to is ${time(12, 1n)}, 48s ago`);
    expect(c.gap).toEqual({ check: 'gap', status: 'ok', message: 'none after the newest full snapshot' });
    expect(formatHuman(h, v)).toContain(`  restorable to any time from ${time(0)} to ${time(12, 1n)}`);
    expect(formatHuman(h, v).split('\n').at(-1)).toBe('All checks passed (1 source).');
    expect(formatNagios(h, v)).toBe('CRM-BACKUP OK - 1 source, all checks passed');
    await lock.release();
    await repo.close();
  });

  it('fails a snapshot older than --max-snapshot-age, and no sooner', async () => {
    const { repo, snapshot } = await healthyRepo();
    const limits = { ...DEFAULT_THRESHOLDS, maxSnapshotAgeMs: 26 * 3600_000, maxLogLagMs: 100 * 3600_000 };
    expect(checks(await health(repo, 26 * 3600), limits).snapshot!.status).toBe('ok');
    const late = checks(await health(repo, 26 * 3600 + 1), limits).snapshot!;
    expect(late.status).toBe('failed');
    expect(late.message).toBe(
      `The newest full snapshot ${snapshot.slice(0, 12)} taken at ${time(0)}, 1d 2h ago, is older than --max-snapshot-age 26h: find in its log why the scheduled snapshot did not run, then take one (crm-backup snapshot --source fake://crm --name crm).`,
    );
    await repo.close();
  });

  it('fails a source with a log and no live stream, and one with no full snapshot; a snapshot-only source needs no stream', async () => {
    const { repo } = await healthyRepo();
    const c = checks(await health(repo, 60));
    expect(c.stream!.status).toBe('failed');
    expect(c.stream!.message).toMatch(
      /^No stream of crm is running \(no live stream lock in the repository; its newest log segment was stored \S+( \S+)? ago\), so no change made since is backed up: find in the stream's log why it stopped, then start it again \(crm-backup stream --source fake:\/\/crm --name crm\)\.$/,
    );
    // a stream of another source is not this one's
    const other = await repo.lock('shared', {
      purpose: 'stream of eu',
      stream: { source: 'eu', segmentSeconds: 1 },
    });
    expect(checks(await health(repo, 60)).stream!.status).toBe('failed');
    await other.release();

    await fakeSnapshot(repo, { position: 5, second: 0, source: 'only-snapshots' });
    await fakeSnapshot(repo, { position: 5, second: 0, source: 'partial', filter: { tables: ['t'] } });
    const v = judge(await health(repo, 60, ['only-snapshots', 'partial']));
    expect(v.sources[0]!.checks.map((x) => x.status)).toEqual(['ok', 'skipped', 'skipped', 'skipped', 'skipped']);
    // a partial snapshot never stands in for the database
    expect(v.sources[1]!.checks[0]).toEqual({
      check: 'snapshot',
      status: 'failed',
      message:
        'partial has no full snapshot, so nothing of it can be restored: take one now (crm-backup snapshot --source URL --name partial) and schedule it nightly.',
    });
    await repo.close();
  });

  it('fails a log lag over --max-log-lag, with the fix that fits the cause', async () => {
    const { repo } = await healthyRepo();
    const limits = { ...DEFAULT_THRESHOLDS, maxLogLagMs: 5 * 60_000 };
    // 12 s − 1 µs + 5 min is the last instant within the limit
    expect(checks(await health(repo, 12 + 300), limits).log!.status).toBe('ok');
    const noStream = checks(await health(repo, 12 + 301), limits).log!;
    expect(noStream.message).toBe(
      `The newest instant crm can be restored to is ${time(12, 1n)}, 5m 1s ago, more than --max-log-lag 5m: no stream is running (see the stream check): start it.`,
    );
    const slow = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: SOURCE, segmentSeconds: 600 },
    });
    expect(checks(await health(repo, 12 + 301), limits).log!.message).toMatch(
      /: the stream stores a segment only every 600 s: run it with a smaller --segment-seconds, or raise --max-log-lag\.$/,
    );
    await slow.release();
    const stuck = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: SOURCE, segmentSeconds: 1 },
    });
    expect(checks(await health(repo, 12 + 301), limits).log!.message).toMatch(
      /: the stream runs but does not store the log: find the reason in its log \(source unreachable, replication behind, repository errors\)\.$/,
    );
    await stuck.release();
    await repo.close();
  });

  it('fails a gap after the newest snapshot, ordering positions by the driver; a later snapshot bridges it', async () => {
    const { repo, snapshot } = await healthyRepo();
    // the source lost its change log: the stream continued from 100, after the stored 12
    await fakeSegment(repo, 100, txs([101, 102], 40));
    const h = await health(repo, 60);
    const c = checks(h, { ...DEFAULT_THRESHOLDS, maxLogLagMs: 30_000 });
    expect(c.gap).toEqual({
      check: 'gap',
      status: 'failed',
      message: `The log of crm has a gap after snapshot ${snapshot.slice(0, 12)}, from ${time(12, 1n)} (position 12) to ${time(40)} (position 100), so no instant after ${time(12, 1n)} can be restored: take a snapshot now (crm-backup snapshot --source fake://crm --name crm), which starts a new window.`,
    });
    // the recovery point stays at the gap, so the lag says why
    expect(c.log!.message).toBe(
      `The newest instant crm can be restored to is ${time(12, 1n)}, 48s ago, more than --max-log-lag 30s: the log has a gap after the newest snapshot (see the gap check): take a snapshot now.`,
    );
    const metrics = parsePrometheusText(formatPrometheus(h, judge(h)));
    expect(promValue(metrics, 'crmb_gap_count', { source: 'crm' })).toBe(1);

    await fakeSnapshot(repo, { position: 101, second: 40 });
    const bridged = await health(repo, 60);
    expect(checks(bridged).gap).toEqual({
      check: 'gap',
      status: 'ok',
      message: 'none after the newest full snapshot (1 earlier, bridged by later snapshots)',
    });
    expect(
      bridged.sources[0]!.restorable.map((w) => [formatMicros(w.fromMicros), formatMicros(w.toMicros)]),
    ).toEqual([
      [time(0), time(12, 1n)],
      [time(40), time(41, 1n)],
    ]);
    await repo.close();
  });

  it('fails an empty repository and a --name it does not hold', async () => {
    const { repo } = await newRepo();
    const empty = judge(await health(repo, 0));
    expect(empty.ok).toBe(false);
    expect(empty.problems).toEqual([
      `The repository at ${repo.location} holds no backups yet: start the stream (crm-backup stream --source URL --name NAME) and take a snapshot (crm-backup snapshot --source URL --name NAME).`,
    ]);
    await fakeSnapshot(repo, { position: 1, second: 0 });
    const missing = judge(await health(repo, 0, ['crm-eu']));
    expect(missing.problems).toEqual([
      `The repository at ${repo.location} holds no backup of source "crm-eu" (it holds "crm"): check --name, or back the source up (crm-backup snapshot --source URL --name crm-eu).`,
    ]);
    expect(formatNagios(await health(repo, 0, ['crm-eu']), missing)).toBe(
      `CRM-BACKUP CRITICAL - ${missing.problems[0]}`,
    );
    await repo.close();
  });

  it('writes the Prometheus text format: names with units, HELP and TYPE, escaped labels, exact values', async () => {
    const { repo } = await healthyRepo();
    const odd = 'eu "west"\\db\nnew';
    await fakeSnapshot(repo, { position: 3, second: 5, source: odd });
    const lock = await repo.lock('shared', {
      purpose: 'stream of crm',
      stream: { source: SOURCE, segmentSeconds: 1 },
    });
    const h = await health(repo, 60);
    const text = formatPrometheus(h, judge(h));
    expect(text).toContain(
      `crmb_snapshots{repository="${repo.location}",source="eu \\"west\\"\\\\db\\nnew"} 1\n`,
    );
    const m = parsePrometheusText(text);
    for (const [name, f] of m) {
      expect(name).toMatch(/^crmb_[a-z_]+$/);
      expect(f.type, name).toBe('gauge');
      expect(f.help, name).toBeTruthy();
      // every series names its repository: two repositories' files never give the same series
      for (const sample of f.samples) expect(sample.labels.repository, name).toBe(repo.location);
    }
    const t0 = Number(T0 / S);
    expect(promValue(m, 'crmb_repository_up')).toBe(1);
    expect(promValue(m, 'crmb_check_timestamp_seconds')).toBe(t0 + 60);
    expect(promValue(m, 'crmb_checks_failed')).toBe(0);
    expect(promValue(m, 'crmb_sources')).toBe(2);
    expect(promValue(m, 'crmb_repository_bytes')).toBe(h.bytes);
    expect(h.bytes).toBeGreaterThan(0);
    expect(promValue(m, 'crmb_newest_snapshot_timestamp_seconds', { source: 'crm' })).toBe(t0);
    expect(promValue(m, 'crmb_snapshot_age_seconds', { source: 'crm' })).toBe(60);
    expect(promValue(m, 'crmb_snapshot_age_seconds', { source: odd })).toBe(55);
    expect(promValue(m, 'crmb_stream_up', { source: 'crm' })).toBe(1);
    expect(promValue(m, 'crmb_stream_up', { source: odd })).toBe(0);
    expect(promValue(m, 'crmb_log_lag_seconds', { source: 'crm' })).toBe(48.000001);
    expect(promValue(m, 'crmb_recovery_point_timestamp_seconds', { source: 'crm' })).toBe(t0 + 11.999999);
    expect(promValue(m, 'crmb_restorable_from_timestamp_seconds', { source: 'crm' })).toBe(t0);
    expect(promValue(m, 'crmb_gap_count', { source: 'crm' })).toBe(0);
    expect(promValue(m, 'crmb_check_passed', { source: 'crm', check: 'stream' })).toBe(1);
    // a source without a log has no lag, gap or stream check to report
    expect(() => promValue(m, 'crmb_log_lag_seconds', { source: odd })).toThrow();
    expect(() => promValue(m, 'crmb_check_passed', { source: odd, check: 'stream' })).toThrow();
    await lock.release();
    await repo.close();
  });

  it('says when the repository could not be read', () => {
    const text = formatPrometheus(
      { location: '/x', checkedAtMicros: 5n * S, bytes: 0, sources: [], missing: [], held: [] },
      undefined,
    );
    const m = parsePrometheusText(text);
    expect([...m.keys()]).toEqual(['crmb_repository_up', 'crmb_check_timestamp_seconds']);
    expect(promValue(m, 'crmb_repository_up')).toBe(0);
  });

  it('the strict parser refuses what the format does not allow', () => {
    const ok = '# HELP a x\n# TYPE a gauge\na{s="q\\"\\\\\\n"} 1\na{s="r"} 2\n';
    expect(promValue(parsePrometheusText(ok), 'a', { s: 'q"\\\n' })).toBe(1);
    expect(() => promValue(parsePrometheusText(ok), 'a')).toThrow('2 samples a{} in the exposition, not one');
    for (const bad of [
      'a 1', // no final line feed
      'a{s="x\\t"} 1\n', // an escape the format does not know
      'a{s=x} 1\n',
      '# TYPE a gauge\n# TYPE a gauge\na 1\n',
      'a 1\nb 1\na{x="1"} 2\n', // a family's samples apart
      'a 1\na 2\n', // one series twice
      'a one\n',
      '1a 1\n',
      '# TYPE a gauges\na 1\n',
      'a 1\n# HELP a late\n',
    ])
      expect(() => parsePrometheusText(bad), JSON.stringify(bad)).toThrow();
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it('reads and shows durations as the user types them', () => {
    expect(['90s', '90', '15m', '26h', '2d', ' 5M '].map(parseDurationMs)).toEqual([
      90_000, 90_000, 900_000, 93_600_000, 172_800_000, 300_000,
    ]);
    for (const bad of ['0', '5x', '1.5h', '-3m', '', 'h']) expect(parseDurationMs(bad), bad).toBeUndefined();
    expect([93_600_000, 300_000, 90_000, 172_800_000, 1500].map(formatLimit)).toEqual([
      '26h',
      '5m',
      '90s',
      '2d',
      '2s',
    ]);
    expect([0, 999, 14_000, 312_000, 93_780_000, 97_200_000, 266_400_000, 7_200_000].map(formatAge)).toEqual([
      '0s',
      '0s',
      '14s',
      '5m 12s',
      '1d 2h',
      '1d 3h',
      '3d 2h',
      '2h',
    ]);
  });
});
