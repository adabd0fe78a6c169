/**
 * Two rules every restore follows, whatever the database: it does not overwrite the database a
 * snapshot was taken from unless the user says so (`--overwrite-source`), and `--clean` says what
 * it dropped.
 *
 * Which database is the source is the driver's knowledge: it records an identity in the snapshot's
 * meta (`SOURCE_IDENTITY_META`) and the target reports its own (`TargetDriver.identity`), both the
 * same for one database whatever URL reaches it. A snapshot from before identities were recorded,
 * or a target that cannot tell, leaves only the address (`host:port/database`, as the driver names
 * sources): compared as well as it can be, and the user is told that it was.
 */
import { guardDriver } from '../driver/guard.js';
import type { DriverModule } from '../driver/driver-module.js';
import { describeSourceUrl } from '../driver/registry.js';
import { SOURCE_IDENTITY_META, type DroppedObjects } from '../driver/target-driver.js';
import type { SnapshotManifest } from '../repository/repository-api.js';
import { RestoreRefusedError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface SourceCheck {
  readonly driver: DriverModule;
  readonly snapshot: SnapshotManifest;
  readonly targetUrl: string;
  /** The user asked to restore onto the source (`--overwrite-source`). */
  readonly overwriteSource?: boolean;
  readonly log: Logger;
}

/** How a URL reads as an address, by its driver's rules; undefined when it cannot be read. */
async function addressOf(url: string): Promise<string | undefined> {
  try {
    return (await describeSourceUrl(url)).defaultName;
  } catch {
    return undefined;
  }
}

/** Refuses (RestoreRefusedError) when the target is the snapshot's source, unless `overwriteSource`. */
export async function refuseSourceAsTarget(check: SourceCheck): Promise<void> {
  const { snapshot, log } = check;
  const short = snapshot.id.slice(0, 12);
  const target = await guardDriver(check.driver).openTarget(check.targetUrl);
  let targetId: string | undefined;
  try {
    targetId = await target.identity?.();
  } finally {
    await target.close().catch(() => {});
  }
  const recorded = snapshot.meta?.[SOURCE_IDENTITY_META];
  const sourceId = typeof recorded === 'string' ? recorded : undefined;
  const targetAddress = await addressOf(check.targetUrl);
  const sourceAddress = await addressOf(snapshot.sourceUrl);
  let same: boolean;
  let how: string;
  if (sourceId !== undefined && targetId !== undefined) {
    same = sourceId === targetId;
    how = 'the same database, by the identity the server reports';
  } else {
    same = targetAddress !== undefined && targetAddress === sourceAddress;
    how = `the same address ${targetAddress ?? ''}`;
    if (!same) {
      const why =
        sourceId === undefined
          ? `snapshot ${short} records no identity of its source database (an older crm-backup took it)`
          : `the target ${targetAddress ?? check.targetUrl} does not tell its identity`;
      log.warn(
        'restore.source-check',
        `Whether the target is the source database was checked by address only, since ${why}: ${targetAddress ?? 'the target'} is not ${sourceAddress ?? snapshot.source}, but make sure it is not the source under another name.`,
      );
    }
  }
  if (!same) return;
  if (!check.overwriteSource) {
    throw new RestoreRefusedError(
      `The target is the database snapshot ${short} was taken from (${how}); restore into another database, or pass --overwrite-source to replace the source with the snapshot.`,
    );
  }
  log.warn(
    'restore.overwrite-source',
    `Restoring onto the database snapshot ${short} was taken from (${how}), as --overwrite-source asks.`,
  );
}

/** One line per kind of object `--clean` dropped, with the names; JSON logs carry the count too. */
export function logDropped(dropped: readonly DroppedObjects[] | void, log: Logger): void {
  for (const d of dropped ?? []) {
    log.info(
      'restore.clean',
      `--clean dropped ${d.names.length} ${d.kind}${d.names.length === 1 ? '' : 's'} from the target: ${d.names.join(', ')}.`,
      { kind: d.kind, count: d.names.length, names: d.names.join(', ') },
    );
  }
}
