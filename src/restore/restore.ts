/**
 * The one restore entry point, for the CLI and the tests alike: lock, choose the source and its
 * driver, check the target is a database of that driver and the manifests are in a format it
 * reads, plan (which snapshot, which log), then load, replay and finish (restore-job.ts).
 */
import { assertReadable } from '../driver/guard.js';
import type { DriverModule } from '../driver/driver-module.js';
import { driverOfSource } from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import { namesMatchingNone, unmatchedPhrase } from '../driver/unmatched-names.js';
import type { Repository, SegmentManifest, SnapshotManifest } from '../repository/repository-api.js';
import { describeSnapshotFilter, isPartialSnapshot } from '../repository/retention.js';
import { runningStreams } from '../repository/stream-locks.js';
import { RestoreRefusedError, UsageError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { formatMicros } from '../util/time.js';
import { refuseFuture, shortLogRefusal, waitForLog, type WaitOptions } from './log-wait.js';
import { LogShortError, planRestore, type RestorePlan, type RestoreTarget } from './plan.js';
import { describeStop } from './plan-ref.js';
import { locateStop } from './log.js';
import { runRestore, type RestoreSummary } from './restore-job.js';
import { pickSource } from './sources.js';
import { tableMatcher } from './tables.js';
import { refuseSourceAsTarget } from './target-safety.js';

export type { RestoreTarget } from './plan.js';
export type { RestoreSummary } from './restore-job.js';

export interface RestoreRequest {
  readonly repo: Repository;
  /** The database to restore into. */
  readonly targetUrl: string;
  /** The source inside the repository; default: the repository's only source. */
  readonly source?: string;
  readonly target: RestoreTarget;
  /** Sessions loading tables and building indexes in parallel. */
  readonly jobs: number;
  /** Only these tables, as the user typed them (the driver matches them). */
  readonly tables?: readonly string[];
  /** Drop the target's objects that the restore recreates first (refused when it holds others). */
  readonly clean?: boolean;
  /** `--at` only: wait while a running stream has not stored the log up to the instant yet. */
  readonly wait?: WaitOptions;
  /** Restore even when the target is the snapshot's own source database. */
  readonly overwriteSource?: boolean;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** Where drivers come from: the registry, unless a test brings a fake driver. */
  readonly drivers?: Drivers;
}

export async function restore(req: RestoreRequest): Promise<RestoreSummary> {
  const { repo, target, log, signal } = req;
  const drivers = req.drivers ?? registry;
  if (req.wait && target.kind !== 'time')
    throw new UsageError('--wait waits for the change log to reach an --at time; use it with --at.');
  // Before anything else: an unknown or unbuilt target scheme is the user's first mistake to hear of.
  const targetDriver = await drivers.forUrl(req.targetUrl);
  // shared: a prune (exclusive) cannot delete chunks this restore is about to read
  const lock = await repo.lock('shared', { purpose: 'restore', signal });
  try {
    const source = await pickSource(repo, req.source);
    const snapshots = await repo.listSnapshots({ source });
    const segments = ['time', 'before', 'through'].includes(target.kind)
      ? await repo.listSegments(source)
      : [];
    const driver = await driverOfSource([...snapshots, ...segments], drivers);
    if (!driver)
      throw new RestoreRefusedError(
        `The repository holds no snapshot of ${source}; take one with "crm-backup snapshot" first.`,
      );
    if (driver.kind !== targetDriver.kind) {
      throw new UsageError(
        `Source ${source} was backed up by the ${driver.kind} driver; the target must be a ${driver.kind} database.`,
      );
    }
    refuseUnknownTables(driver, req.tables, snapshots, `in any snapshot of ${source}`, '');
    const tables = tableMatcher(driver, req.tables);
    const stop = await locateStop(repo, { source, driver, segments }, target, signal, drivers);
    const planFrom = (segs: readonly SegmentManifest[]): RestorePlan =>
      planRestore(snapshots, segs, target, driver.comparePositions, { tables, stop });
    let plan: RestorePlan;
    if (target.kind === 'time') {
      refuseFuture(source, target.micros, segments);
      try {
        plan = planFrom(segments);
      } catch (err) {
        if (!(err instanceof LogShortError)) throw err;
        if (!req.wait) throw shortLogRefusal(source, err, segments, await runningStreams(repo, source));
        plan = await waitForLog({
          repo,
          source,
          first: err,
          segments,
          wait: req.wait,
          log,
          signal,
          plan: async () => {
            const segs = await repo.listSegments(source);
            try {
              return { plan: planFrom(segs) };
            } catch (e) {
              if (e instanceof LogShortError) return { short: e, segments: segs };
              throw e;
            }
          },
        });
      }
    } else plan = planFrom(segments);
    const snap = plan.snapshot;
    refuseUnknownTables(
      driver,
      req.tables,
      [snap],
      `of snapshot ${snap.id.slice(0, 12)} (consistent at ${snap.consistentAt})`,
      ', or restore from a snapshot that holds it',
    );
    assertReadable(driver, snap, `Snapshot ${snap.id.slice(0, 12)}`);
    for (const seg of plan.segments) assertReadable(driver, seg, `Log segment ${seg.id.slice(0, 12)}`);
    await refuseSourceAsTarget({
      driver,
      snapshot: plan.snapshot,
      targetUrl: req.targetUrl,
      overwriteSource: req.overwriteSource,
      log,
    });
    // kept by a prune running beside us even if forget removes these manifests meanwhile
    const { schema, streams } = plan.snapshot;
    await lock.hold([schema, ...streams.map((t) => t.data), ...plan.segments.map((g) => g.data)], { signal });
    log.info(
      'restore.plan',
      `Restoring ${isPartialSnapshot(snap) ? 'partial ' : ''}snapshot ${snap.id.slice(0, 12)} (${snap.consistentAt})` +
        (plan.untilMicros !== undefined
          ? ` and ${plan.segments.length} log segments up to ${formatMicros(plan.untilMicros)}.`
          : plan.stop
            ? ` and ${plan.segments.length} log segments ${describeStop(plan.stop)}.`
            : '.'),
    );
    if (isPartialSnapshot(snap) && !req.tables?.length) {
      const n = new Set(snap.streams.map((s) => s.table)).size;
      log.warn(
        'restore.partial',
        `Snapshot ${snap.id.slice(0, 12)} is partial (taken with ${describeSnapshotFilter(snap.filter)}): only its ${n} ${n === 1 ? 'table is' : 'tables are'} restored, not the whole database.`,
      );
    }
    return await runRestore({
      repo,
      driver,
      plan,
      targetUrl: req.targetUrl,
      jobs: req.jobs,
      tables: req.tables,
      clean: req.clean,
      log,
      signal,
    });
  } finally {
    await lock.release().catch(() => {});
  }
}

/**
 * Refuses (exit 2), before the target is touched, when a --tables name matches no table of
 * `snapshots`: each name on its own, so one typo among right names is caught too.
 */
function refuseUnknownTables(
  driver: DriverModule,
  wanted: readonly string[] | undefined,
  snapshots: readonly SnapshotManifest[],
  where: string,
  advice: string,
): void {
  if (!wanted?.length) return;
  const tables = new Set(snapshots.flatMap((s) => s.streams.map((t) => t.table)));
  const phrase = unmatchedPhrase([
    { flag: '--tables', names: namesMatchingNone(driver.tableNames, wanted, tables) },
  ]);
  if (phrase)
    throw new UsageError(`${phrase} no table ${where}; check the spelling${advice} (nothing was restored).`);
}
