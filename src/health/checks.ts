/**
 * The checks of `crm-backup check`, judged from the facts health.ts reads: each is `ok`,
 * `failed` with one sentence that says what was found, what was expected and the fix, or
 * `skipped` when it does not apply (no log: no stream or lag to judge). Pure: no clock, no I/O.
 */
import { formatDuration } from '../util/log.js';
import { formatAge } from '../util/time.js';
import { formatMicros } from '../util/time.js';
import type { RepositoryHealth, SourceHealth } from './health.js';

/** The checks, in the order they are shown. */
export const CHECKS = ['snapshot', 'stream', 'log', 'gap', 'drill'] as const;
export type CheckName = (typeof CHECKS)[number];

export interface Thresholds {
  /** The newest full snapshot may be this old (ms). */
  readonly maxSnapshotAgeMs: number;
  /** The newest instant a restore can reach may be this far behind now (ms). */
  readonly maxLogLagMs: number;
  /**
   * The last passing drill may be this old (ms). No default: a drill needs a server to restore
   * on, which not every installation has; without it the drill check fails only on a failed drill.
   */
  readonly maxDrillAgeMs?: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { maxSnapshotAgeMs: 26 * 3_600_000, maxLogLagMs: 5 * 60_000 };

export interface CheckResult {
  readonly check: CheckName;
  readonly status: 'ok' | 'failed' | 'skipped';
  /** What was found: a short phrase when ok or skipped, one sentence with its fix when failed. */
  readonly message: string;
}

export interface SourceVerdict {
  readonly source: string;
  readonly checks: readonly CheckResult[];
}

export interface Verdict {
  readonly ok: boolean;
  /** Repository-level failures (no source at all, a source asked for that is not there). */
  readonly problems: readonly string[];
  readonly sources: readonly SourceVerdict[];
}

/** How a threshold is shown: as the user would type it (`26h`, `90s`). */
export function formatLimit(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

export function judge(health: RepositoryHealth, limits: Thresholds = DEFAULT_THRESHOLDS): Verdict {
  const problems: string[] = [];
  if (health.sources.length === 0 && health.missing.length === 0)
    problems.push(
      `The repository at ${health.location} holds no backups yet: start the stream (crm-backup stream --source URL --name NAME) and take a snapshot (crm-backup snapshot --source URL --name NAME).`,
    );
  for (const name of health.missing)
    problems.push(
      `The repository at ${health.location} holds no backup of source "${name}" (it holds ${health.held.length ? health.held.map((h) => `"${h}"`).join(', ') : 'none'}): check --name, or back the source up (crm-backup snapshot --source URL --name ${name}).`,
    );
  const sources = health.sources.map((s) => ({
    source: s.source,
    checks: CHECKS.map((c) => JUDGES[c](s, health.checkedAtMicros, limits)),
  }));
  return {
    ok: problems.length === 0 && sources.every((s) => s.checks.every((c) => c.status !== 'failed')),
    problems,
    sources,
  };
}

type Judge = (s: SourceHealth, now: bigint, limits: Thresholds) => CheckResult;

const ageMs = (now: bigint, micros: bigint): number => Number((now - micros) / 1000n);

/** The command that fixes it, with the source URL the newest snapshot recorded (never a password). */
function command(verb: 'snapshot' | 'stream', s: SourceHealth): string {
  return `crm-backup ${verb} --source ${s.newestSnapshot?.sourceUrl ?? 'URL'} --name ${s.source}`;
}

const JUDGES: Record<CheckName, Judge> = {
  snapshot: (s, now, limits) => {
    const snap = s.newestSnapshot;
    if (!snap)
      return failed(
        'snapshot',
        `${s.source} has no full snapshot, so nothing of it can be restored: take one now (${command('snapshot', s)}) and schedule it nightly.`,
      );
    const age = ageMs(now, snap.consistentAtMicros);
    const found = `newest full snapshot ${snap.id.slice(0, 12)} taken at ${snap.consistentAt}, ${formatAge(age)} ago`;
    if (age <= limits.maxSnapshotAgeMs) return ok('snapshot', found);
    return failed(
      'snapshot',
      `The ${found}, is older than --max-snapshot-age ${formatLimit(limits.maxSnapshotAgeMs)}: find in its log why the scheduled snapshot did not run, then take one (${command('snapshot', s)}).`,
    );
  },

  stream: (s, now) => {
    const [first] = s.streams;
    if (first) {
      const beat = ageMs(now, BigInt(first.refreshed.getTime()) * 1000n);
      const cadence = first.segmentSeconds ? `, stores a segment every ${first.segmentSeconds} s` : '';
      return ok(
        'stream',
        `running as pid ${first.pid} on ${first.host}${cadence}, lock refreshed ${formatAge(Math.max(0, beat))} ago${s.streams.length > 1 ? ` (and ${s.streams.length - 1} more)` : ''}`,
      );
    }
    if (!s.log) return skipped('stream', 'none running, and no log stored (snapshots only)');
    const stored = ageMs(now, BigInt(Date.parse(s.log.newestSegmentAt)) * 1000n);
    return failed(
      'stream',
      `No stream of ${s.source} is running (no live stream lock in the repository; its newest log segment was stored ${formatAge(stored)} ago), so no change made since is backed up: find in the stream's log why it stopped, then start it again (${command('stream', s)}).`,
    );
  },

  log: (s, now, limits) => {
    if (!s.log) return skipped('log', 'no log stored (restores to snapshots only)');
    if (s.recoveryPointMicros === undefined)
      return skipped('log', 'no full snapshot to replay the log from (see the snapshot check)');
    const lag = ageMs(now, s.recoveryPointMicros);
    const found = `the newest instant ${s.source} can be restored to is ${formatMicros(s.recoveryPointMicros)}, ${formatAge(Math.max(0, lag))} ago`;
    if (lag <= limits.maxLogLagMs) return ok('log', found);
    const stream = s.streams[0];
    const fix = s.openGaps.length
      ? 'the log has a gap after the newest snapshot (see the gap check): take a snapshot now'
      : !stream
        ? 'no stream is running (see the stream check): start it'
        : stream.segmentSeconds && stream.segmentSeconds * 1000 >= limits.maxLogLagMs
          ? `the stream stores a segment only every ${stream.segmentSeconds} s: run it with a smaller --segment-seconds, or raise --max-log-lag`
          : `the stream runs but does not store the log: find the reason in its log (source unreachable, replication behind, repository errors)`;
    return failed(
      'log',
      `${capitalize(found)}, more than --max-log-lag ${formatLimit(limits.maxLogLagMs)}: ${fix}.`,
    );
  },

  gap: (s) => {
    if (!s.log) return skipped('gap', 'no log stored');
    const earlier = s.earlierGaps ? ` (${s.earlierGaps} earlier, bridged by later snapshots)` : '';
    const [gap] = s.openGaps;
    if (!gap || !s.newestSnapshot) return ok('gap', `none after the newest full snapshot${earlier}`);
    const from =
      gap.afterMicros >= 0n
        ? `${formatMicros(gap.afterMicros)} (position ${gap.after})`
        : `position ${gap.after}`;
    const to =
      gap.beforeMicros >= 0n
        ? `${formatMicros(gap.beforeMicros)} (position ${gap.before})`
        : `position ${gap.before}`;
    const more = s.openGaps.length > 1 ? ` (the first of ${s.openGaps.length})` : '';
    return failed(
      'gap',
      `The log of ${s.source} has a gap${more} after snapshot ${s.newestSnapshot.id.slice(0, 12)}, from ${from} to ${to}, so no instant after ${gap.afterMicros >= 0n ? formatMicros(gap.afterMicros) : `position ${gap.after}`} can be restored: take a snapshot now (${command('snapshot', s)}), which starts a new window.`,
    );
  },

  drill: judgeDrill,
};

/** The last drill: a failed one always fails the check; a passing one only when older than --max-drill-age. */
function judgeDrill(s: SourceHealth, now: bigint, limits: Thresholds): CheckResult {
  const d = s.lastDrill;
  const fix = `crm-backup drill --name ${s.source} --target URL`;
  if (!d) {
    if (limits.maxDrillAgeMs === undefined) return skipped('drill', `none recorded (${fix} restores and checks the backup)`);
    return failed(
      'drill',
      `No drill of ${s.source} is recorded, and --max-drill-age ${formatLimit(limits.maxDrillAgeMs)} asks for one: run one (${fix}) and schedule it (contrib/systemd/crm-backup-drill@.timer).`,
    );
  }
  const age = ageMs(now, BigInt(Date.parse(d.startedAt)) * 1000n);
  const when = `${d.startedAt} (${formatAge(Math.max(0, age))} ago)`;
  if (d.verdict === 'failed')
    return failed(
      'drill',
      `The last drill of ${s.source}, ${when}, failed: ${d.failure ?? 'no reason recorded'} Find the damage with crm-backup verify --read-data, take a new snapshot, and drill again (${fix}).`,
    );
  const found = `last drill ${when} passed: snapshot ${d.snapshot.slice(0, 12)}${d.at ? ` and the log up to ${d.at}` : ''} restored in ${formatDuration(Math.round(d.seconds * 1000))}, ${d.tablesCompared} of ${d.tables} tables match its checksums`;
  if (limits.maxDrillAgeMs === undefined || age <= limits.maxDrillAgeMs) return ok('drill', found);
  return failed(
    'drill',
    `The ${found}; it is older than --max-drill-age ${formatLimit(limits.maxDrillAgeMs)}: find in its log why the scheduled drill did not run, then run one (${fix}).`,
  );
}

function ok(check: CheckName, message: string): CheckResult {
  return { check, status: 'ok', message };
}
function failed(check: CheckName, message: string): CheckResult {
  return { check, status: 'failed', message };
}
function skipped(check: CheckName, message: string): CheckResult {
  return { check, status: 'skipped', message };
}
function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
