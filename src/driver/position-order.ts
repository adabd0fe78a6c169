/**
 * Positions are opaque strings that only the driver that wrote them can order: MySQL binlog
 * coordinates (`mysql-bin.000010:4` after `mysql-bin.000009:900`), GTID sets and MongoDB cluster
 * times do not sort as strings. Every ordering of positions in `src/` goes through here, by the
 * `driver` recorded in the manifests.
 */
import { UsageError } from '../util/errors.js';
import type { DriverModule } from './driver-module.js';
import { registry, type Drivers } from './registry.js';
import type { Position } from './source-driver.js';

/** What a snapshot or segment manifest records of the driver that wrote it. */
export interface WrittenBy {
  readonly source: string;
  readonly driver: string;
}

/** Orders two positions written by `driver`. */
export type PositionOrder = (driver: string, a: Position, b: Position) => number;

/**
 * The one driver that wrote `manifests` (all of one source), or undefined when there are none.
 * A source is backed up by one driver; manifests of two are refused rather than mixed.
 */
export async function driverOfSource(
  manifests: readonly WrittenBy[],
  drivers: Drivers = registry,
): Promise<DriverModule | undefined> {
  const kinds = [...new Set(manifests.map((m) => m.driver))];
  if (kinds.length > 1) {
    throw new UsageError(
      `Source ${manifests[0]!.source} holds backups written by several drivers (${kinds.join(', ')}); give each database its own --name.`,
    );
  }
  return kinds[0] === undefined ? undefined : drivers.byKind(kinds[0]);
}

/** A position order for manifests of any of the drivers that wrote `manifests`. */
export async function positionOrder(
  manifests: readonly WrittenBy[],
  drivers: Drivers = registry,
): Promise<PositionOrder> {
  const order = new Map<string, DriverModule['comparePositions']>();
  for (const kind of new Set(manifests.map((m) => m.driver)))
    order.set(kind, (await drivers.byKind(kind)).comparePositions);
  return (driver, a, b) => {
    const cmp = order.get(driver);
    if (!cmp) throw new UsageError(`This build has no driver "${driver}" to order its log positions.`);
    return cmp(a, b);
  };
}

/** Refuses to add backups by `kind` to a source whose manifests another driver wrote. */
export function assertWrittenBy(manifests: readonly WrittenBy[], kind: string): void {
  const other = manifests.find((m) => m.driver !== kind);
  if (other) {
    throw new UsageError(
      `Source ${other.source} holds backups written by the ${other.driver} driver, not ${kind}; give this database its own --name.`,
    );
  }
}
