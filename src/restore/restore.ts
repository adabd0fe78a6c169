/**
 * The one restore entry point, for the CLI and the tests alike: lock, choose the source and its
 * driver, check the target is a database of that driver and the manifests are in a format it
 * reads, plan (which snapshot, which log), then load, replay and finish (restore-job.ts).
 */
import { assertReadable } from '../driver/guard.js';
import { driverOfSource } from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import type { Repository } from '../repository/repository-api.js';
import { RestoreRefusedError, UsageError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { formatMicros } from '../util/time.js';
import { planRestore, type RestoreTarget } from './plan.js';
import { runRestore, type RestoreSummary } from './restore-job.js';
import { pickSource } from './sources.js';
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
  // Before anything else: an unknown or unbuilt target scheme is the user's first mistake to hear of.
  const targetDriver = await drivers.forUrl(req.targetUrl);
  // shared: a prune (exclusive) cannot delete chunks this restore is about to read
  const lock = await repo.lock('shared', { purpose: 'restore', signal });
  try {
    const source = await pickSource(repo, req.source);
    const snapshots = await repo.listSnapshots({ source });
    const segments = target.kind === 'time' ? await repo.listSegments(source) : [];
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
    const plan = planRestore(snapshots, segments, target, driver.comparePositions);
    assertReadable(driver, plan.snapshot, `Snapshot ${plan.snapshot.id.slice(0, 12)}`);
    for (const seg of plan.segments) assertReadable(driver, seg, `Log segment ${seg.id.slice(0, 12)}`);
    await refuseSourceAsTarget({
      driver,
      snapshot: plan.snapshot,
      targetUrl: req.targetUrl,
      overwriteSource: req.overwriteSource,
      log,
    });
    log.info(
      'restore.plan',
      `Restoring snapshot ${plan.snapshot.id.slice(0, 12)} (${plan.snapshot.consistentAt})` +
        (plan.untilMicros !== undefined
          ? ` and ${plan.segments.length} log segments up to ${formatMicros(plan.untilMicros)}.`
          : '.'),
    );
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
