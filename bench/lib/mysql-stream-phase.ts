/**
 * Steps 4 and 5 on MySQL/MariaDB, as stream-phase.ts and pitr-phase.ts on PostgreSQL: the stream
 * under an UPDATE load, then `restore --at E` judged against the source.
 *
 * E is the server's clock after the last load commit. Coverage comes from commit times only (a
 * commit at c proves every instant before c), so unless --idle-end the bench commits one row into
 * its tick table after E. MariaDB's binlog event headers carry commit times in whole seconds, so
 * the tick waits until the server's clock is past E's second: a tick in E's own second could be
 * taken as committed at or before E — it would not prove E, and `restore --at E` would replay it.
 * The catch-up figure therefore includes up to one second of that wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { eventTime, logEvents } from './crm-cli.js';
import { runMysqlUpdateLoad } from './mysql-load.js';
import { myCreateDb, myDropDb, myQuery, myServerNow, quoteId, TICK_TABLE } from './mysql.js';
import type { MyBenchContext, MyBenchResults } from './mysql-results.js';
import { crmChecksums } from './mysql-snapshot-phase.js';
import { compareChecksums } from './pg.js';
import { lastLine } from './proc.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';
import { StreamWatch } from './stream.js';

const START_TIMEOUT_MS = 60_000;
const POLL_MS = 20;

export async function myStartStreamPhase(ctx: MyBenchContext): Promise<StreamWatch | undefined> {
  const seg = ctx.opts.segmentSeconds;
  return ctx.steps.run('stream start', `crm-backup stream --segment-seconds ${seg}, before the snapshot`, async () => {
    const watch = new StreamWatch(ctx.cli, ctx.source, seg);
    try {
      await watch.waitStarted(START_TIMEOUT_MS);
    } catch (err) {
      await watch.stop(5_000);
      throw err;
    }
    return watch;
  });
}

type StreamResults = NonNullable<MyBenchResults['stream']>;
const streamResults = (ctx: MyBenchContext): StreamResults => (ctx.results.stream ??= { peakRssBytes: 0, lagSamples: 0, segments: 0 });

/** Commits one row into the tick table once the server's clock is in a later second than `e`; returns the clock after it. */
export async function tickAfter(url: string, e: string): Promise<string> {
  const second = e.slice(0, 19);
  while ((await myServerNow(url)).slice(0, 19) <= second) await sleep(POLL_MS); // polls the server's clock
  await myQuery(url, `INSERT INTO ${quoteId(TICK_TABLE)} () VALUES ()`);
  return myServerNow(url);
}

/** Runs the load and waits for the log to cover its end; returns E, or undefined on failure. */
export async function myLoadPhase(ctx: MyBenchContext, watch: StreamWatch): Promise<string | undefined> {
  const { opts } = ctx;
  const what = `UPDATE load aiming at ${opts.rate}/s for ${opts.loadSeconds} s on ${opts.connections} connections`;
  return ctx.steps.run('stream under load', what, async () => {
    const stream = streamResults(ctx);
    const loadStart = Date.now();
    const load = await runMysqlUpdateLoad(ctx.source, { rate: opts.rate, seconds: opts.loadSeconds, connections: opts.connections });
    const loadEnd = await myServerNow(ctx.source);
    stream.load = load;
    stream.loadEnd = loadEnd;
    if (!opts.idleEnd) stream.tickAt = await tickAfter(ctx.source, loadEnd);
    say(`   ${load.changes.toLocaleString('en-US')} row changes in ${load.seconds.toFixed(1)} s = ${Math.round(load.changesPerSecond)}/s; E = ${loadEnd}`);
    let failure: unknown;
    let coveredAt: number | undefined;
    try {
      coveredAt = await watch.waitCovered(loadEnd, Math.max(60_000, opts.loadSeconds * 4_000));
      stream.catchUpSeconds = (coveredAt - Date.parse(loadEnd)) / 1000;
    } catch (err) {
      failure = err;
    }
    const until = coveredAt ?? Date.now();
    stream.maxLagSeconds = watch.maxLag(loadStart, until);
    stream.lagSamples = watch.lag.filter((s) => s.at >= loadStart && s.at <= until).length;
    stream.maxRestorableLagSeconds = watch.maxRestorableLag(loadStart, until);
    stream.segments = watch.coverage.length;
    stream.coverage = watch.coverage
      .filter((c) => c.at >= loadStart && c.at <= until)
      .map((c) => ({ storedAt: new Date(c.at).toISOString(), coveredUntil: c.until }));
    // the contract operators rely on: `list` must agree that E is restorable
    stream.listConfirms = await listCovers(ctx, loadEnd);
    say(
      `   catch-up ${stream.catchUpSeconds?.toFixed(2) ?? '?'} s after E; max reported lag ${stream.maxLagSeconds?.toFixed(2) ?? '?'} s ` +
        `(${stream.lagSamples} samples); list --json covers E: ${stream.listConfirms ? 'yes' : 'NO'}`,
    );
    if (failure) throw failure;
    if (!stream.listConfirms) throw new Error(`crm-backup list --json does not show ${loadEnd} as restorable`);
    return loadEnd;
  });
}

export async function myStopStreamPhase(ctx: MyBenchContext, watch: StreamWatch): Promise<void> {
  await ctx.steps.run('stream stop', 'SIGINT: flush, acknowledge, exit 0', async () => {
    const r = await watch.stop();
    const stream = streamResults(ctx);
    stream.peakRssBytes = r.peakRssBytes;
    stream.exitCode = r.code;
    say(`   stream exited ${r.code ?? r.signal}; peak ${fmtBytes(r.peakRssBytes)}`);
    if (r.code !== 0) throw new Error(`the stream exited ${r.code ?? r.signal} instead of 0 on SIGINT: ${lastLine(r.stderr)}`);
  });
}

async function listCovers(ctx: MyBenchContext, time: string): Promise<boolean> {
  try {
    const r = await ctx.cli.run(['list']);
    const listing = JSON.parse(r.stdout) as Array<{ restorable: Array<{ from: string; to: string }> }>;
    return listing.some((s) => s.restorable.some((w) => w.from <= time && time <= w.to));
  } catch (err) {
    say(`   list --json failed: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}

interface RestoreSummary {
  readonly transactions: number;
  readonly changes: number;
  readonly seconds: number;
  readonly replaySeconds?: number;
}

/**
 * `restore --at E` into a fresh database, judged against the source now (the load stopped before
 * E). Replay seconds: the restore's own figure when it gives one, else (restore.loaded →
 * restore.done of restore --at) − (the same span of restore --snapshot), else the totals' difference.
 */
export async function myPitrPhase(ctx: MyBenchContext, loadEnd: string): Promise<void> {
  const { cli, opts, results } = ctx;
  await ctx.steps.run('restore --at', `crm-backup restore --at E --jobs ${opts.jobs} into a fresh database, then checksums`, async () => {
    const db = 'crm_restore_at';
    const target = await myCreateDb(ctx.serverUrl, db);
    try {
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
      const checksums = compareChecksums(await crmChecksums(ctx.source), await crmChecksums(target));
      results.pitr.checksums = checksums;
      say(`   checksums vs source at E: ${checksums.equal ? `equal (${checksums.tables} tables)` : `DIFFERENT — ${checksums.differing.join(', ')}`}`);
    } finally {
      await myDropDb(ctx.serverUrl, db);
    }
  });
}
