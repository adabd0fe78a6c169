/**
 * Step 4: the stream under a write load. The stream is started before the snapshot (a snapshot's
 * position must lie inside the stored log for `restore --at`); the load runs after the snapshot
 * and its restore, so the log holds exactly the load. E is the server's clock after the last load
 * commit; catch-up is the time from E until a stored segment covered E.
 *
 * Coverage comes from commit times only: a commit at c proves every instant before c, so E is
 * covered once a commit after E is stored. A live CRM always has one; here, unless --idle-end,
 * the bench commits one row into its tick table after E (BenchDb.closingCommit: left out of the
 * checksums, and after E, so restore --at E does not replay it). Without it the figure would
 * measure the stream's idle-marker interval, not how fast it catches up.
 */
import type { BenchContext } from './context.js';
import { lastLine } from './proc.js';
import { fmtBytes } from './report.js';
import type { StreamFigures } from './results.js';
import { say } from './steps.js';
import { StreamWatch } from './stream.js';

const START_TIMEOUT_MS = 60_000;

export async function startStreamPhase(ctx: BenchContext): Promise<StreamWatch | undefined> {
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

const streamFigures = (ctx: BenchContext): StreamFigures => (ctx.results.stream ??= { peakRssBytes: 0, lagSamples: 0, segments: 0 });

/** Runs the load and waits for the log to cover its end; returns E, or undefined on failure. */
export async function loadPhase(ctx: BenchContext, watch: StreamWatch): Promise<string | undefined> {
  const { opts, db } = ctx;
  const what = `UPDATE load aiming at ${opts.rate}/s for ${opts.loadSeconds} s on ${opts.connections} connections`;
  return ctx.steps.run('stream under load', what, async () => {
    const stream = streamFigures(ctx);
    const loadStart = Date.now();
    const load = await db.updateLoad(ctx.source, { rate: opts.rate, seconds: opts.loadSeconds, connections: opts.connections });
    const loadEnd = await db.serverNow(ctx.source);
    stream.load = load;
    stream.loadEnd = loadEnd;
    if (!opts.idleEnd) {
      const tickAt = await db.closingCommit(ctx.source, loadEnd);
      if (tickAt !== undefined) stream.tickAt = tickAt;
    }
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
    // the raw material of the lag figures, for whoever doubts them
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

export async function stopStreamPhase(ctx: BenchContext, watch: StreamWatch): Promise<void> {
  await ctx.steps.run('stream stop', 'SIGINT: flush, acknowledge, exit 0', async () => {
    const r = await watch.stop();
    const stream = streamFigures(ctx);
    stream.peakRssBytes = r.peakRssBytes;
    stream.exitCode = r.code;
    say(`   stream exited ${r.code ?? r.signal}; peak ${fmtBytes(r.peakRssBytes)}`);
    if (r.code !== 0) throw new Error(`the stream exited ${r.code ?? r.signal} instead of 0 on SIGINT: ${lastLine(r.stderr)}`);
  });
}

async function listCovers(ctx: BenchContext, time: string): Promise<boolean> {
  try {
    const r = await ctx.cli.run(['list']);
    const listing = JSON.parse(r.stdout) as Array<{ restorable: Array<{ from: string; to: string }> }>;
    return listing.some((s) => s.restorable.some((w) => w.from <= time && time <= w.to));
  } catch (err) {
    say(`   list --json failed: ${err instanceof Error ? err.message : String(err)}`);
    return false;
  }
}
