/**
 * Step 5: `restore --at E` into a fresh database, judged against the source's final state (the
 * load stopped before E, so the source now is the source at E).
 *
 * Replay seconds: the restore's own figure (summary.replaySeconds) when it gives one. Otherwise
 * they are estimated from the restores' JSON logs: in both restores, `restore.loaded` ->
 * `restore.done` covers post-data (indexes, keys) and finish; the PITR restore also replays in
 * that span. Replay seconds = PITR span − snapshot-restore span. This cancels the table-load
 * phase, the noisiest part; when a log time is missing it falls back to the difference of the
 * total wall times.
 */
import { inFreshDb } from './bench-db.js';
import { compareChecksums, verdictText } from './checksums.js';
import type { BenchContext } from './context.js';
import { eventTime, logEvents } from './crm-cli.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';

interface RestoreSummary {
  readonly transactions: number;
  readonly changes: number;
  readonly seconds: number;
  readonly replaySeconds?: number;
}

export async function pitrPhase(ctx: BenchContext, loadEnd: string): Promise<void> {
  const { cli, opts, results, db } = ctx;
  await ctx.steps.run('restore --at', `crm-backup restore --at E --jobs ${opts.jobs} into a fresh database, then checksums`, () =>
    inFreshDb(db, ctx.serverUrl, 'crm_restore_at', async (target) => {
      const r = await cli.run(['restore', '--target', target, '--at', loadEnd, '--jobs', String(opts.jobs)]);
      const summary = JSON.parse(r.stdout) as RestoreSummary;
      const events = logEvents(r.stderr);
      const loaded = eventTime(events, 'restore.loaded');
      const done = eventTime(events, 'restore.done');
      let replaySeconds: number | undefined;
      let replayMethod: string;
      if (summary.replaySeconds !== undefined && summary.replaySeconds > 0) {
        replaySeconds = summary.replaySeconds;
        replayMethod = 'summary.replaySeconds of restore --at';
      } else if (loaded !== undefined && done !== undefined && ctx.snapshotRestoreTail !== undefined) {
        replaySeconds = (done - loaded) / 1000 - ctx.snapshotRestoreTail;
        replayMethod = '(restore.loaded→restore.done of restore --at) − (same span of restore --snapshot)';
      } else {
        replaySeconds = results.restore ? r.seconds - results.restore.seconds : undefined;
        replayMethod = 'wall time of restore --at − wall time of restore --snapshot';
      }
      // a non-positive estimate means the replay drowned in the noise: say so rather than print a rate
      const usable = replaySeconds !== undefined && replaySeconds > 0 ? replaySeconds : undefined;
      results.pitr = {
        seconds: r.seconds,
        peakRssBytes: r.peakRssBytes,
        transactions: summary.transactions,
        changes: summary.changes,
        replaySeconds,
        replayMethod,
        replaySecondsByTotals: results.restore?.summarySeconds === undefined ? undefined : summary.seconds - results.restore.summarySeconds,
        changesPerSecond: usable === undefined ? undefined : summary.changes / usable,
      };
      say(
        `   restore --at: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}; replayed ${summary.transactions} transactions, ` +
          `${summary.changes} changes in ~${replaySeconds?.toFixed(2) ?? '?'} s (load made ${results.stream?.load?.changes ?? '?'})`,
      );
      const checksums = compareChecksums(await db.checksums(ctx.source), await db.checksums(target));
      results.pitr.checksums = checksums;
      say(`   checksums vs source at E: ${verdictText(checksums)}`);
    }),
  );
}
