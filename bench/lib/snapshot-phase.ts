/**
 * Step 3: `snapshot --jobs J`, timed with peak memory and the repository measured on disk, then
 * rounds 2..N of the native dumps and our snapshot (each into a new repository), alternating;
 * `restore --snapshot ID --jobs J` into a fresh database, judged by checksums, then rounds 2..N of
 * the native restores and ours, alternating.
 */
import { rmSync } from 'node:fs';
import { inFreshDb } from './bench-db.js';
import { compareChecksums, verdictText } from './checksums.js';
import type { BenchContext } from './context.js';
import { eventTime, logEvents } from './crm-cli.js';
import { dirBytes } from './du.js';
import type { ProcResult } from './proc.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Returns the snapshot id, or undefined when the snapshot failed. */
export async function snapshotPhase(ctx: BenchContext): Promise<string | undefined> {
  const { cli, steps, results, opts } = ctx;
  const id = await steps.run('snapshot', `crm-backup snapshot --jobs ${opts.jobs}`, async () => {
    const bytesBefore = dirBytes(ctx.repoDir);
    const r = await cli.run(['snapshot', '--source', ctx.source, '--jobs', String(opts.jobs)]);
    const out = JSON.parse(r.stdout) as { id: string; tables: number; rows: number };
    // the stream has been storing (empty) segments meanwhile: counted, they are part of the repository
    const repoBytes = dirBytes(ctx.repoDir);
    results.snapshot = { id: out.id, seconds: r.seconds, peakRssBytes: r.peakRssBytes, repoBytes, tables: out.tables, rows: out.rows };
    say(
      `   snapshot ${out.id.slice(0, 12)}: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}, ` +
        `repository ${fmtBytes(repoBytes)} (${fmtBytes(repoBytes - bytesBefore)} added by the snapshot)`,
    );
    return out.id;
  });
  if (id !== undefined) await snapshotRounds(ctx);
  else ctx.nativeDumps = undefined;
  return id;
}

/**
 * Rounds 2..N of the snapshot: each native dump again, then `init` (untimed) and `snapshot` into a
 * new repository (a snapshot into the bench's repository would find every chunk stored already),
 * removed once measured. The stream keeps running on the bench's repository, as in round 1. The
 * figures become medians, as for the restores: one run of either varies by ±10–15 % on this
 * machine from one minute to the next. Round 1's snapshot stays the one restored and measured on
 * disk.
 */
async function snapshotRounds(ctx: BenchContext): Promise<void> {
  const { steps, results, opts } = ctx;
  const dumps = ctx.nativeDumps ?? [];
  ctx.nativeDumps = undefined;
  const first = results.snapshot;
  // without a native dump to pair with (none ran, or the benchmark has none yet) there is nothing to alternate
  if (opts.snapshotRounds < 2 || !first || !dumps.length) return;
  const ours = [first.seconds];
  let peak = first.peakRssBytes;
  await steps.run('snapshot rounds', `${opts.snapshotRounds - 1} more round${opts.snapshotRounds > 2 ? 's' : ''} of ${[...dumps.map((d) => d.label), 'crm-backup snapshot'].join(' / ')}, alternating`, async () => {
    for (let round = 2; round <= opts.snapshotRounds; round++) {
      for (const d of dumps) d.runs.push(await d.dump());
      const dir = `${ctx.repoDir}-round${round}`;
      try {
        const cli = ctx.cli.withRepo(dir);
        await cli.run(['init']);
        const r = await cli.run(['snapshot', '--source', ctx.source, '--jobs', String(opts.jobs)]);
        ours.push(r.seconds);
        peak = Math.max(peak, r.peakRssBytes);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const each = dumps.map((d) => `${d.label} ${(d.runs.at(-1) as number).toFixed(1)} s`);
      say(`   round ${round}: ${[...each, `crm-backup ${(ours.at(-1) as number).toFixed(1)} s`].join(', ')}`);
    }
  });
  // a failed round leaves the figures of round 1 (and of the rounds that ran), still paired
  const n = Math.min(ours.length, ...dumps.map((d) => d.runs.length));
  for (const d of dumps) d.settle(median(d.runs.slice(0, n)));
  results.snapshot = { ...first, runs: ours.slice(0, n), seconds: median(ours.slice(0, n)), peakRssBytes: peak };
  const shown = dumps.map((d) => `${d.label} ${median(d.runs.slice(0, n)).toFixed(1)} s`);
  say(`   snapshot medians of ${n}: ${[...shown, `crm-backup ${median(ours.slice(0, n)).toFixed(1)} s`].join(', ')}`);
}

const RESTORED = 'crm_restore_snapshot';

/** `restore --snapshot ID` into `target`. */
function restoreSnapshot(ctx: BenchContext, target: string, snapshotId: string): Promise<ProcResult> {
  return ctx.cli.run(['restore', '--target', target, '--snapshot', snapshotId, '--jobs', String(ctx.opts.jobs)]);
}

export async function restorePhase(ctx: BenchContext, snapshotId: string): Promise<void> {
  const { steps, results, opts } = ctx;
  await steps.run('restore', `crm-backup restore --snapshot --jobs ${opts.jobs} into a fresh database, then checksums`, () =>
    inFreshDb(ctx.db, ctx.serverUrl, RESTORED, async (target) => {
      const r = await restoreSnapshot(ctx, target, snapshotId);
      const summary = JSON.parse(r.stdout) as { seconds?: number };
      const events = logEvents(r.stderr);
      const loaded = eventTime(events, 'restore.loaded');
      const done = eventTime(events, 'restore.done');
      // post-data (indexes, keys) and finish: the part a PITR restore shares with this one
      if (loaded !== undefined && done !== undefined) ctx.snapshotRestoreTail = (done - loaded) / 1000;
      results.restore = { seconds: r.seconds, peakRssBytes: r.peakRssBytes, summarySeconds: summary.seconds };
      say(`   restore: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}; comparing checksums`);
      if (!ctx.sourceBefore) throw new Error('no source checksums to compare with (that step failed)');
      const checksums = compareChecksums(ctx.sourceBefore, await ctx.db.checksums(target));
      results.restore.checksums = checksums;
      say(`   checksums: ${verdictText(checksums)}`);
    }),
  );
  await restoreRounds(ctx, results.restore ? snapshotId : undefined);
}

/**
 * Rounds 2..N: the native restores and crm-backup's alternately, each into a fresh database, so
 * that checkpoints, page flushing, the binlog and the page cache fall on all alike; the figures
 * become medians. One run of either differs by up to ±10% on this machine from one minute to the
 * next. Without a restore of ours to time (its step or an earlier one failed) the native rounds
 * still run, so their figures stand on their own.
 */
export async function restoreRounds(ctx: BenchContext, snapshotId: string | undefined): Promise<void> {
  const { steps, results, opts } = ctx;
  const rounds = ctx.nativeRounds;
  try {
    if (opts.restoreRounds < 2 || !rounds) return;
    const first = snapshotId === undefined ? undefined : results.restore;
    const ours = first ? [first.seconds] : [];
    let peak = first?.peakRssBytes ?? 0;
    if (!first && rounds.restores.every((n) => !n.runs)) return;
    const fmt = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(1)} s`);
    await steps.run('restore rounds', `${opts.restoreRounds - 1} more ${rounds.what}, alternating`, async () => {
      for (let round = 2; round <= opts.restoreRounds; round++) {
        for (const n of rounds.restores) if (n.runs) n.runs.push(await n.restore());
        if (first && snapshotId !== undefined) {
          const r = await inFreshDb(ctx.db, ctx.serverUrl, RESTORED, (target) => restoreSnapshot(ctx, target, snapshotId));
          ours.push(r.seconds);
          peak = Math.max(peak, r.peakRssBytes);
        }
        const each = rounds.restores.map((n) => `${n.label} ${fmt(n.runs?.at(-1))}`);
        say(`   round ${round}: ${[...each, `crm-backup ${fmt(first ? ours.at(-1) : undefined)}`].join(', ')}`);
      }
    });
    for (const n of rounds.restores) if (n.runs?.length) n.settle(median(n.runs));
    if (first) results.restore = { ...first, runs: ours, seconds: median(ours), peakRssBytes: peak };
    const med = (xs: readonly number[] | undefined): string => (xs?.length ? `${median(xs).toFixed(1)} s` : '—');
    const shown = rounds.restores.filter((n) => !n.quiet).map((n) => `${n.label} ${med(n.runs)}`);
    const count = Math.max(ours.length, ...rounds.restores.map((n) => n.runs?.length ?? 0));
    say(`   medians of ${count}: ${[...shown, `crm-backup ${med(first ? ours : undefined)}`].join(', ')}`);
  } finally {
    releaseNativeFiles(ctx);
  }
}

/** The native dumps are kept for the paired rounds only: a 1 GB run need not keep them to the end. */
export function releaseNativeFiles(ctx: BenchContext): void {
  for (const f of ctx.nativeRounds?.files ?? []) rmSync(f, { recursive: true, force: true });
  ctx.nativeRounds = undefined;
}
