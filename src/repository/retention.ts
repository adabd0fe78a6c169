/**
 * Which snapshots a keep policy keeps, and why (pure: tested on synthetic manifests with fixed dates).
 * Like restic: within each rule, walk snapshots newest first and keep the newest one of each distinct
 * hour/day/week/month, until the rule has kept N. Buckets are in UTC.
 *
 * The rules count full snapshots only: a partial one (taken with --tables/--schemas) is no backup
 * of the database. Partial snapshots are kept while they are newer than the oldest kept full one,
 * so they never hold back the log that forget removes. A source with no full snapshot at all has
 * the rules applied to its partial snapshots, to each filter apart (as restic groups by paths).
 */
import type { SnapshotFilter, SnapshotManifest } from './repository-api.js';

export interface KeepPolicy {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
}

export interface Decision {
  readonly snapshot: SnapshotManifest;
  readonly keep: boolean;
  /** Rules that keep it, e.g. `last 1`, `daily 2024-03-05`; empty when removed. */
  readonly reasons: string[];
}

export function hasKeepRule(p: KeepPolicy): boolean {
  return [p.keepLast, p.keepHourly, p.keepDaily, p.keepWeekly, p.keepMonthly].some((n) => (n ?? 0) > 0);
}

export function snapshotTime(s: SnapshotManifest): Date {
  return new Date(Number(BigInt(s.consistentAtMicros) / 1000n));
}

/** ISO 8601 week of a UTC date, e.g. `2024-W09` (weeks start on Monday; week 1 holds the first Thursday). */
export function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

const RULES: { name: string; count: (p: KeepPolicy) => number | undefined; bucket: (d: Date, i: number) => string }[] = [
  { name: 'last', count: (p) => p.keepLast, bucket: (_d, i) => String(i) },
  { name: 'hourly', count: (p) => p.keepHourly, bucket: (d) => d.toISOString().slice(0, 13) },
  { name: 'daily', count: (p) => p.keepDaily, bucket: (d) => d.toISOString().slice(0, 10) },
  { name: 'weekly', count: (p) => p.keepWeekly, bucket: (d) => isoWeek(d) },
  { name: 'monthly', count: (p) => p.keepMonthly, bucket: (d) => d.toISOString().slice(0, 7) },
];

export const PARTIAL_KEPT = 'partial, newer than the oldest kept full snapshot';

/** True for a snapshot taken with --tables/--schemas: it holds only some of the database. */
export function isPartialSnapshot(s: Pick<SnapshotManifest, 'filter'>): boolean {
  return !!(s.filter?.tables?.length || s.filter?.schemas?.length);
}

/** `--tables a,b --schemas s`: the filter as the user gave it, for messages and `list`. */
export function describeSnapshotFilter(f: SnapshotFilter | undefined): string {
  const parts: string[] = [];
  if (f?.tables?.length) parts.push(`--tables ${f.tables.join(',')}`);
  if (f?.schemas?.length) parts.push(`--schemas ${f.schemas.join(',')}`);
  return parts.join(' ');
}

/** Applies the policy to the snapshots of one source (full and partial ones apart, see above). */
export function applyPolicy(snapshots: readonly SnapshotManifest[], policy: KeepPolicy): Decision[] {
  const full = snapshots.filter((s) => !isPartialSnapshot(s));
  const partial = snapshots.filter(isPartialSnapshot);
  if (full.length === 0) {
    const groups = new Map<string, SnapshotManifest[]>();
    for (const s of partial) {
      const key = JSON.stringify([s.filter?.tables ?? [], s.filter?.schemas ?? []]);
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    return newestFirst([...groups.values()].flatMap((g) => applyRules(g, policy)));
  }
  const decided = applyRules(full, policy);
  const oldestKept = decided.filter((d) => d.keep).at(-1)?.snapshot;
  const partialDecided = partial.map((snapshot) => {
    const keep = !!oldestKept && newer(snapshot, oldestKept);
    return { snapshot, keep, reasons: keep ? [PARTIAL_KEPT] : [] };
  });
  return newestFirst([...decided, ...partialDecided]);
}

function newer(a: SnapshotManifest, b: SnapshotManifest): boolean {
  return BigInt(a.consistentAtMicros) > BigInt(b.consistentAtMicros);
}

function byNewest(a: SnapshotManifest, b: SnapshotManifest): number {
  const d = BigInt(b.consistentAtMicros) - BigInt(a.consistentAtMicros);
  return d > 0n ? 1 : d < 0n ? -1 : b.id.localeCompare(a.id);
}

function newestFirst(decisions: Decision[]): Decision[] {
  return decisions.sort((x, y) => byNewest(x.snapshot, y.snapshot));
}

/** The keep rules over one group of snapshots, newest first. */
function applyRules(snapshots: readonly SnapshotManifest[], policy: KeepPolicy): Decision[] {
  const newestFirst = [...snapshots].sort(byNewest);
  const reasons = newestFirst.map(() => [] as string[]);
  for (const rule of RULES) {
    const n = rule.count(policy) ?? 0;
    let kept = 0;
    let last: string | undefined;
    newestFirst.forEach((s, i) => {
      if (kept >= n) return;
      const b = rule.bucket(snapshotTime(s), i);
      if (b === last) return;
      last = b;
      kept++;
      (reasons[i] as string[]).push(rule.name === 'last' ? `last ${i + 1}` : `${rule.name} ${b}`);
    });
  }
  return newestFirst.map((snapshot, i) => ({ snapshot, keep: (reasons[i] as string[]).length > 0, reasons: reasons[i] as string[] }));
}
