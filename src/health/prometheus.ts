/**
 * `check --prometheus FILE`: the facts and verdicts in the Prometheus text exposition format
 * (version 0.0.4), for node_exporter's textfile collector. Units are in the names (`_seconds`,
 * `_bytes`, `_timestamp_seconds`), every family has `# HELP` and `# TYPE` and its samples follow
 * it, label values are escaped by the format's rules. Every sample carries the label `repository`
 * (its location): the textfile collector refuses a series that two files give, and a second
 * repository (a copy) holds sources of the same names. The file is replaced atomically (a temp
 * file in the same folder, renamed over it) so the collector never reads half of it.
 */
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CHECKS, type Verdict } from './checks.js';
import type { RepositoryHealth } from './health.js';

interface Family {
  readonly name: string;
  readonly help: string;
  readonly samples: Array<{ labels: Record<string, string>; value: number }>;
}

/** A label value as the format writes it: backslash, double quote and line feed escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** Seconds, exact to the microsecond, as a decimal the format reads (no exponent). */
function seconds(micros: bigint): number {
  return Number(micros) / 1e6;
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf';
  return Number.isInteger(v) ? v.toFixed(0) : String(v);
}

export function formatPrometheus(health: RepositoryHealth, verdict: Verdict | undefined): string {
  const families: Family[] = [];
  const family = (name: string, help: string): Family['samples'] => {
    const f: Family = { name: `crmb_${name}`, help, samples: [] };
    families.push(f);
    return f.samples;
  };
  const now = health.checkedAtMicros;

  family(
    'repository_up',
    '1 when crm-backup check opened and read the repository, 0 when it could not.',
  ).push({
    labels: {},
    value: verdict ? 1 : 0,
  });
  family('check_timestamp_seconds', 'When crm-backup check last ran (Unix time).').push({
    labels: {},
    value: seconds(now),
  });
  if (!verdict) return render(families, health.location);

  const problems =
    verdict.problems.length +
    verdict.sources.reduce((n, s) => n + s.checks.filter((c) => c.status === 'failed').length, 0);
  family('checks_failed', 'Failing checks of the last crm-backup check run (0: healthy).').push({
    labels: {},
    value: problems,
  });
  family(
    'repository_bytes',
    'Bytes the repository occupies in its store (every object, compressed and encrypted).',
  ).push({
    labels: {},
    value: health.bytes,
  });
  family('sources', 'Sources the repository holds backups of.').push({
    labels: {},
    value: health.sources.length,
  });

  const passed = family(
    'check_passed',
    `1 when the check passed, 0 when it failed, per source; skipped checks are absent (checks: ${CHECKS.join(', ')}).`,
  );
  for (const v of verdict.sources)
    for (const c of v.checks)
      if (c.status !== 'skipped')
        passed.push({ labels: { source: v.source, check: c.check }, value: c.status === 'ok' ? 1 : 0 });

  const newest = family(
    'newest_snapshot_timestamp_seconds',
    'Consistent instant of the newest full snapshot (Unix time).',
  );
  const age = family('snapshot_age_seconds', 'Age of the newest full snapshot.');
  const count = family('snapshots', 'Snapshots stored, partial ones included.');
  const up = family(
    'stream_up',
    '1 when a stream of the source holds a live lock in the repository, else 0.',
  );
  const beat = family(
    'stream_lock_age_seconds',
    "Time since the running stream's lock was last refreshed (its heartbeat).",
  );
  const recovery = family(
    'recovery_point_timestamp_seconds',
    'The newest instant a restore can reach right now (Unix time): end of the newest restorable window, or the newest full snapshot.',
  );
  const lag = family(
    'log_lag_seconds',
    'How far the newest restorable instant is behind now, for sources with a log.',
  );
  const oldest = family(
    'restorable_from_timestamp_seconds',
    'The oldest instant a restore --at can reach (Unix time).',
  );
  const logBytes = family('log_bytes', 'Plaintext bytes of the stored change log.');
  const gaps = family(
    'gap_count',
    'Gaps in the change log after the newest full snapshot (restores after the first are refused).',
  );
  const drillAt = family('last_drill_timestamp_seconds', 'When the last recorded restore drill started (Unix time).');
  const drillOk = family('last_drill_success', '1 when the last recorded restore drill passed, 0 when the backup failed it.');
  const drillSeconds = family(
    'last_drill_duration_seconds',
    'The recovery time the last restore drill measured: how long its restore took.',
  );
  for (const s of health.sources) {
    const source = { source: s.source };
    if (s.lastDrill) {
      drillAt.push({ labels: source, value: Date.parse(s.lastDrill.startedAt) / 1000 });
      drillOk.push({ labels: source, value: s.lastDrill.verdict === 'passed' ? 1 : 0 });
      drillSeconds.push({ labels: source, value: s.lastDrill.seconds });
    }
    count.push({ labels: source, value: s.snapshots });
    if (s.newestSnapshot) {
      newest.push({ labels: source, value: seconds(s.newestSnapshot.consistentAtMicros) });
      age.push({ labels: source, value: Math.max(0, seconds(now - s.newestSnapshot.consistentAtMicros)) });
    }
    up.push({ labels: source, value: s.streams.length ? 1 : 0 });
    const refreshed = s.streams
      .map((x) => BigInt(x.refreshed.getTime()) * 1000n)
      .reduce((a, b) => (b > a ? b : a), -1n);
    if (refreshed >= 0n) beat.push({ labels: source, value: Math.max(0, seconds(now - refreshed)) });
    if (s.recoveryPointMicros !== undefined) {
      recovery.push({ labels: source, value: seconds(s.recoveryPointMicros) });
      if (s.log) lag.push({ labels: source, value: Math.max(0, seconds(now - s.recoveryPointMicros)) });
    }
    const first = s.restorable[0];
    if (first) oldest.push({ labels: source, value: seconds(first.fromMicros) });
    if (s.log) {
      logBytes.push({ labels: source, value: s.log.bytes });
      gaps.push({ labels: source, value: s.openGaps.length });
    }
  }
  return render(families, health.location);
}

function render(families: readonly Family[], repository: string): string {
  const lines: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`);
    for (const s of f.samples) {
      const labels = Object.entries({ repository, ...s.labels }).map(
        ([k, v]) => `${k}="${escapeLabelValue(v)}"`,
      );
      lines.push(`${f.name}{${labels.join(',')}} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces `file` with `text` atomically: written and flushed to a temp file beside it (a name the
 * textfile collector ignores: it reads `*.prom` only), then renamed over it.
 */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}
