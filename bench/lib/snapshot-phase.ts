/**
 * Step 3: `snapshot --jobs J` and `restore --snapshot ID --jobs J` into a fresh database, timed
 * with peak memory, the repository measured on disk, and the restore judged by checksums.
 */
import { pgTableChecksums } from '../../scripts/crm/index.js';
import type { BenchContext } from './context.js';
import { eventTime, logEvents } from './crm-cli.js';
import { dirBytes } from './du.js';
import { compareChecksums, createDb, dropDb } from './pg.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';
import { LZ4_TOAST_ENV, pgRestore } from './native.js';
import { rmSync } from 'node:fs';

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Returns the snapshot id, or undefined when the snapshot failed. */
export async function snapshotPhase(ctx: BenchContext): Promise<string | undefined> {
  const { cli, steps, results, opts } = ctx;
  return steps.run('snapshot', `crm-backup snapshot --jobs ${opts.jobs}`, async () => {
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
}

export async function restorePhase(ctx: BenchContext, snapshotId: string): Promise<void> {
  const { cli, steps, results, opts } = ctx;
  await steps.run('restore', `crm-backup restore --snapshot --jobs ${opts.jobs} into a fresh database, then checksums`, async () => {
    const db = 'crm_restore_snapshot';
    const target = await createDb(ctx.serverUrl, db);
    try {
      const r = await cli.run(['restore', '--target', target, '--snapshot', snapshotId, '--jobs', String(opts.jobs)]);
      const summary = JSON.parse(r.stdout) as { seconds?: number };
      const events = logEvents(r.stderr);
      const loaded = eventTime(events, 'restore.loaded');
      const done = eventTime(events, 'restore.done');
      // post-data (indexes, keys) and finish: the part a PITR restore shares with this one
      if (loaded !== undefined && done !== undefined) ctx.snapshotRestoreTail = (done - loaded) / 1000;
      results.restore = { seconds: r.seconds, peakRssBytes: r.peakRssBytes, summarySeconds: summary.seconds };
      say(`   restore: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}; comparing checksums`);
      if (!ctx.sourceBefore) throw new Error('no source checksums to compare with (that step failed)');
      const checksums = compareChecksums(ctx.sourceBefore, await pgTableChecksums(target));
      results.restore.checksums = checksums;
      say(`   checksums: ${checksums.equal ? `equal (${checksums.tables} tables)` : `DIFFERENT — ${checksums.differing.join(', ')}`}`);
    } finally {
      await dropDb(ctx.serverUrl, db);
    }
  });
  await restoreRounds(ctx, snapshotId);
}

/**
 * Rounds 2..N: pg_restore and crm-backup restore alternately, each into a fresh database, so that
 * checkpoints, autovacuum and the page cache fall on both alike; the figures become medians. One
 * run of each differs by up to ±10% on this machine from one minute to the next.
 */
async function restoreRounds(ctx: BenchContext, snapshotId: string): Promise<void> {
  const { cli, steps, results, opts } = ctx;
  const dump = ctx.nativeDump;
  try {
    if (opts.restoreRounds < 2 || !dump || !results.restore || !results.native.restoreRuns) return;
    const ours = [results.restore.seconds];
    let peak = results.restore.peakRssBytes;
    const native = results.native.restoreRuns;
    await steps.run('restore rounds', `${opts.restoreRounds - 1} more pg_restore / crm-backup restore pairs, alternating`, async () => {
      for (let round = 2; round <= opts.restoreRounds; round++) {
        native.push(await pgRestore(ctx.serverUrl, 'crm_native', dump, opts.jobs));
        const lz4 = results.native.restoreLz4Runs;
        if (lz4) lz4.push(await pgRestore(ctx.serverUrl, 'crm_native', dump, opts.jobs, LZ4_TOAST_ENV));
        const db = 'crm_restore_snapshot';
        const target = await createDb(ctx.serverUrl, db);
        try {
          const r = await cli.run(['restore', '--target', target, '--snapshot', snapshotId, '--jobs', String(opts.jobs)]);
          ours.push(r.seconds);
          peak = Math.max(peak, r.peakRssBytes);
        } finally {
          await dropDb(ctx.serverUrl, db);
        }
        const lz4Say = results.native.restoreLz4Runs ? `, pg_restore lz4 ${results.native.restoreLz4Runs.at(-1)!.toFixed(1)} s` : '';
        say(`   round ${round}: pg_restore ${native.at(-1)!.toFixed(1)} s${lz4Say}, crm-backup ${ours.at(-1)!.toFixed(1)} s`);
      }
    });
    results.native.restoreSeconds = median(native);
    if (results.native.restoreLz4Runs) results.native.restoreLz4Seconds = median(results.native.restoreLz4Runs);
    results.restore = { ...results.restore, runs: ours, seconds: median(ours), peakRssBytes: peak };
    say(`   medians of ${ours.length}: pg_restore ${median(native).toFixed(1)} s, crm-backup ${median(ours).toFixed(1)} s`);
  } finally {
    if (dump) rmSync(dump, { force: true });
    ctx.nativeDump = undefined;
  }
}
