/** `crm-backup check` output: for people, as JSON, and as one Nagios plugin line. */
import { formatBytes } from '../util/log.js';
import { formatMicros } from '../util/time.js';
import type { Thresholds, Verdict } from './checks.js';
import type { RepositoryHealth } from './health.js';

const STATUS = { ok: 'ok  ', failed: 'FAIL', skipped: '-   ' } as const;

/** Every failing check's sentence, repository-level ones first, each prefixed with its source. */
export function failures(verdict: Verdict): string[] {
  return [
    ...verdict.problems,
    ...verdict.sources.flatMap((s) => s.checks.filter((c) => c.status === 'failed').map((c) => c.message)),
  ];
}

export function formatHuman(health: RepositoryHealth, verdict: Verdict): string {
  const lines: string[] = [`Repository ${health.location}: ${formatBytes(health.bytes)}`];
  for (const s of health.sources) {
    lines.push(`Source ${s.source}${s.driver ? ` (${s.driver})` : ''}`);
    for (const c of verdict.sources.find((v) => v.source === s.source)?.checks ?? [])
      lines.push(`  ${STATUS[c.status]}  ${c.check.padEnd(8)}  ${c.message}`);
    for (const w of s.restorable)
      lines.push(
        `  restorable to any time from ${formatMicros(w.fromMicros)} to ${formatMicros(w.toMicros)}`,
      );
    if (s.restorable.length === 0 && s.log)
      lines.push('  restorable: no window (no unbroken log after a full snapshot)');
  }
  for (const p of verdict.problems) lines.push(`FAIL  ${p}`);
  const failed = failures(verdict).length;
  lines.push(
    failed === 0
      ? `All checks passed (${health.sources.length} source${health.sources.length === 1 ? '' : 's'}).`
      : `${failed} check${failed === 1 ? '' : 's'} failed.`,
  );
  return lines.join('\n');
}

export function toJson(health: RepositoryHealth, verdict: Verdict, limits: Thresholds): unknown {
  const now = health.checkedAtMicros;
  const secondsSince = (micros: bigint): number => Number(now - micros) / 1e6;
  return {
    ok: verdict.ok,
    checkedAt: formatMicros(now),
    repository: { location: health.location, bytes: health.bytes },
    thresholds: {
      maxSnapshotAgeSeconds: limits.maxSnapshotAgeMs / 1000,
      maxLogLagSeconds: limits.maxLogLagMs / 1000,
      maxDrillAgeSeconds: limits.maxDrillAgeMs === undefined ? null : limits.maxDrillAgeMs / 1000,
    },
    problems: verdict.problems,
    sources: health.sources.map((s) => ({
      source: s.source,
      driver: s.driver,
      newestSnapshot: s.newestSnapshot
        ? {
            id: s.newestSnapshot.id,
            consistentAt: s.newestSnapshot.consistentAt,
            ageSeconds: secondsSince(s.newestSnapshot.consistentAtMicros),
            tags: s.newestSnapshot.tags,
            sourceUrl: s.newestSnapshot.sourceUrl,
          }
        : null,
      snapshots: s.snapshots,
      streams: s.streams.map((x) => ({
        host: x.host,
        pid: x.pid,
        ...(x.segmentSeconds ? { segmentSeconds: x.segmentSeconds } : {}),
        lockRefreshed: x.refreshed.toISOString(),
      })),
      log: s.log
        ? {
            segments: s.log.segments,
            bytes: s.log.bytes,
            storedUntil: s.log.storedUntilMicros >= 0n ? formatMicros(s.log.storedUntilMicros) : null,
            newestSegmentAt: s.log.newestSegmentAt,
          }
        : null,
      recoveryPoint: s.recoveryPointMicros !== undefined ? formatMicros(s.recoveryPointMicros) : null,
      lagSeconds: s.recoveryPointMicros !== undefined && s.log ? secondsSince(s.recoveryPointMicros) : null,
      restorable: s.restorable.map((w) => ({
        from: formatMicros(w.fromMicros),
        to: formatMicros(w.toMicros),
      })),
      gaps: s.openGaps.map((g) => ({
        after: g.after,
        afterTime: g.afterMicros >= 0n ? formatMicros(g.afterMicros) : null,
        before: g.before,
        beforeTime: g.beforeMicros >= 0n ? formatMicros(g.beforeMicros) : null,
      })),
      earlierGaps: s.earlierGaps,
      lastDrill: s.lastDrill ?? null,
      checks: verdict.sources.find((v) => v.source === s.source)?.checks ?? [],
    })),
  };
}

/** One line in the Nagios plugin format: `CRM-BACKUP OK - …` or `CRM-BACKUP CRITICAL - …`. */
export function formatNagios(health: RepositoryHealth, verdict: Verdict): string {
  const failed = failures(verdict);
  const n = health.sources.length;
  return failed.length === 0
    ? `CRM-BACKUP OK - ${n} source${n === 1 ? '' : 's'}, all checks passed`
    : `CRM-BACKUP CRITICAL - ${failed.join(' ')}`;
}
