/**
 * The figures table: each target with crm-backup's value, the native baseline, the ratio (ours ÷
 * native) and a verdict; the rows every database benchmark has (figureTable), and what each adds
 * (TableParts). "met"/"MISSED" judge a target; "FAIL" means the figure could not be measured (its
 * step failed) or a restore's checksums differ from the source — a wrong restore is a failure
 * whatever its speed. "NOT RUN" marks a comparison whose native tool is not installed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchResults } from './results.js';

/** `NOT RUN`: the baseline's tool is not installed here, so the target could not be judged. */
export type Verdict = 'met' | 'MISSED' | 'FAIL' | 'NOT RUN' | 'info';

export interface Row {
  readonly metric: string;
  readonly value: string;
  readonly baseline: string;
  readonly ratio: string;
  readonly target: string;
  readonly verdict: Verdict;
}

const MB = 1_000_000;
export const fmtBytes = (b: number): string => `${(b / MB).toFixed(b < 10 * MB ? 2 : 1)} MB`;
export const fmtSec = (s: number): string => `${s.toFixed(s < 10 ? 2 : 1)} s`;
export const fmtRate = (r: number): string => `${Math.round(r).toLocaleString('en-US')}/s`;
export const NA = '—';

/** A row comparing `ours` with `base` against a maximum ratio. */
export function ratioRow(metric: string, ours: number | undefined, base: number | undefined, max: number, fmt: (n: number) => string, baseName: string): Row {
  const ratio = ours !== undefined && base !== undefined && base > 0 ? ours / base : undefined;
  return {
    metric,
    value: ours === undefined ? 'FAILED' : fmt(ours),
    baseline: base === undefined ? 'FAILED' : `${fmt(base)} (${baseName})`,
    ratio: ratio === undefined ? NA : `${ratio.toFixed(2)}×`,
    target: `≤ ${max.toFixed(2)}×`,
    verdict: ratio === undefined ? 'FAIL' : ratio <= max ? 'met' : 'MISSED',
  };
}

/** A row judging an absolute value; `ok` says whether it meets the target. */
export function limitRow(metric: string, value: number | undefined, fmt: (n: number) => string, target: string, ok: (n: number) => boolean): Row {
  return {
    metric,
    value: value === undefined ? 'FAILED' : fmt(value),
    baseline: NA,
    ratio: NA,
    target,
    verdict: value === undefined ? 'FAIL' : ok(value) ? 'met' : 'MISSED',
  };
}

export function checksumRow(metric: string, v: { equal: boolean; tables: number; differing: readonly string[] } | undefined): Row {
  const value = v === undefined ? 'FAILED' : v.equal ? `equal (${v.tables} tables)` : `DIFFERENT: ${v.differing.join(', ')}`;
  return { metric, value, baseline: NA, ratio: NA, target: 'equal', verdict: v?.equal ? 'met' : 'FAIL' };
}

export const info = (metric: string, value: string, baseline = NA): Row => ({ metric, value, baseline, ratio: NA, target: NA, verdict: 'info' });

/** A ratio shown for context: no target, no verdict. */
export function contextRatio(metric: string, ours: number | undefined, base: number | undefined, fmt: (n: number) => string, baseName: string): Row {
  return { ...ratioRow(metric, ours, base, 1, fmt, baseName), target: NA, verdict: 'info' };
}

function floor(r: BenchResults): string {
  const b = r.cliBaseline;
  if (!b) return 'FAILED';
  return `${fmtSec(b.version.seconds)}, ${fmtBytes(b.version.peakRssBytes)} / ${fmtSec(b.list.seconds)}, ${fmtBytes(b.list.peakRssBytes)}`;
}

/** ` (median of N)` after the restore's label when it was timed in N rounds. */
export const roundsNote = (r: BenchResults): string => ((r.restore?.runs?.length ?? 1) > 1 ? ` (median of ${r.restore!.runs!.length})` : '');
/** The same for the snapshot's rounds. */
export const snapshotRoundsNote = (r: BenchResults): string => ((r.snapshot?.runs?.length ?? 1) > 1 ? ` (median of ${r.snapshot!.runs!.length})` : '');

/** What a database's table adds to the rows every benchmark has (figureTable). */
export interface TableParts {
  /** crm-backup's snapshot and restore against the native tools: the first rows. */
  readonly comparisons: readonly Row[];
  /** Commands judged for peak memory before the snapshot, with their peaks (MySQL: init, list). */
  readonly memoryFirst?: ReadonlyArray<readonly [name: string, bytes: number | undefined]>;
  /** The label of the catch-up row. */
  readonly catchUp: string;
  /** The native tools' own figures, as context. */
  readonly natives: readonly Row[];
}

export function figureTable(r: BenchResults, parts: TableParts): Row[] {
  const mem = ([name, b]: readonly [string, number | undefined]): Row => limitRow(`peak memory: ${name}`, b || undefined, fmtBytes, '≤ 300 MB', (n) => n <= 300 * MB);
  const s = r.stream;
  const memory: Array<readonly [string, number | undefined]> = [
    ...(parts.memoryFirst ?? []),
    ['snapshot', r.snapshot?.peakRssBytes],
    ['restore --snapshot', r.restore?.peakRssBytes],
    ['stream', s?.peakRssBytes],
    ['restore --at', r.pitr?.peakRssBytes],
  ];
  return [
    ...parts.comparisons,
    checksumRow('restore --snapshot checksums', r.restore?.checksums),
    ...memory.map(mem),
    limitRow('stream: write load achieved', s?.load?.changesPerSecond, fmtRate, '≥ 3,000/s', (n) => n >= 3000),
    limitRow('stream: max reported lag (stream.lag)', s?.maxLagSeconds, fmtSec, '< 2 s', (n) => n < 2),
    info(parts.catchUp, s?.catchUpSeconds === undefined ? 'FAILED' : fmtSec(s.catchUpSeconds)),
    info('stream: max restorable lag (RPO) under load', s?.maxRestorableLagSeconds === undefined ? NA : fmtSec(s.maxRestorableLagSeconds)),
    r.pitr && r.pitr.changesPerSecond === undefined
      ? { ...info('restore --at: replay rate', 'not measurable (replay time ≤ 0: lost in noise)'), target: '≥ 20,000/s' }
      : limitRow('restore --at: replay rate', r.pitr?.changesPerSecond, fmtRate, '≥ 20,000/s', (n) => n >= 20_000),
    checksumRow('restore --at E checksums', r.pitr?.checksums),
    info('CLI floor: --version / list (time, peak memory)', floor(r)),
    ...parts.natives,
    info('restore --at E, wall time', r.pitr ? fmtSec(r.pitr.seconds) : 'FAILED'),
    info('repository bytes at the end (with log)', r.repoBytesFinal === undefined ? NA : fmtBytes(r.repoBytesFinal)),
  ];
}

export function printTable(rows: readonly Row[], out: (line: string) => void): void {
  const head: Row = { metric: 'figure', value: 'crm-backup', baseline: 'baseline', ratio: 'ratio', target: 'target', verdict: 'info' };
  const cols = ['metric', 'value', 'baseline', 'ratio', 'target'] as const;
  const width = (c: (typeof cols)[number]): number => Math.max(...[head, ...rows].map((r) => r[c].length));
  const line = (r: Row, verdict: string): string => [...cols.map((c) => r[c].padEnd(width(c))), verdict].join('  ');
  out(line(head, 'verdict'));
  out('-'.repeat(line(head, 'verdict').length));
  for (const r of rows) out(line(r, r.verdict === 'info' ? '' : r.verdict));
}

/** Writes `<dir>/<bench>-<timestamp>.json` with the results and their table; returns the path. */
export function writeResultsFile(dir: string, bench: string, r: { readonly startedAt: string }, table: readonly Row[]): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${bench}-${r.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(path, `${JSON.stringify({ ...r, table }, null, 2)}\n`);
  return path;
}
