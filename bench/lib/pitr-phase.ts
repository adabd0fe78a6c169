/**
 * Step 5: `restore --at E` into a fresh database, judged against the source's final state (the
 * load stopped before E, so the source now is the source at E).
 *
 * The restore summary has no replay time of its own, so replay time is estimated from the
 * restores' JSON logs: in both restores, `restore.loaded` -> `restore.done` covers post-data
 * (indexes, keys) and finish; the PITR restore also replays in that span. Replay seconds =
 * PITR span − snapshot-restore span. This cancels the table-load phase, the noisiest part; when
 * a log time is missing it falls back to the difference of the total wall times.
 */
import { pgTableChecksums } from '../../scripts/crm/index.js';
import type { BenchContext } from './context.js';
import { eventTime, logEvents } from './crm-cli.js';
import { compareChecksums, createDb, dropDb } from './pg.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';

interface RestoreSummary {
  readonly transactions: number;
  readonly changes: number;
  readonly seconds: number;
}

export async function pitrPhase(ctx: BenchContext, loadEnd: string): Promise<void> {
  const { cli, opts, results } = ctx;
  await ctx.steps.run(
    'restore --at',
    `crm-backup restore --at E --jobs ${opts.jobs} into a fresh database, then checksums`,
    async () => {
      const db = 'crm_restore_at';
      const target = await createDb(ctx.serverUrl, db);
      try {
        const r = await cli.run([
          'restore',
          '--target',
          target,
          '--at',
          loadEnd,
          '--jobs',
          String(opts.jobs),
        ]);
        const summary = JSON.parse(r.stdout) as RestoreSummary;
        const events = logEvents(r.stderr);
        const loaded = eventTime(events, 'restore.loaded');
        const done = eventTime(events, 'restore.done');
        let replaySeconds: number | undefined;
        let replayMethod: string;
        const measured = (summary as { replaySeconds?: number }).replaySeconds;
        if (measured !== undefined && measured > 0) {
          // the restore times its replay itself (summary.replaySeconds): no estimate needed
          replaySeconds = measured;
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
          replaySecondsByTotals:
            results.restore?.summarySeconds === undefined
              ? undefined
              : summary.seconds - results.restore.summarySeconds,
          changesPerSecond: usable === undefined ? undefined : summary.changes / usable,
        };
        say(
          `   restore --at: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}; replayed ${summary.transactions} transactions, ` +
            `${summary.changes} changes in ~${replaySeconds?.toFixed(2) ?? '?'} s (load made ${results.stream?.load?.changes ?? '?'})`,
        );
        const checksums = compareChecksums(
          await pgTableChecksums(ctx.source),
          await pgTableChecksums(target),
        );
        results.pitr.checksums = checksums;
        say(
          `   checksums vs source at E: ${checksums.equal ? `equal (${checksums.tables} tables)` : `DIFFERENT — ${checksums.differing.join(', ')}`}`,
        );
      } finally {
        await dropDb(ctx.serverUrl, db);
      }
    },
  );
}
