/**
 * The sources a repository holds, as `list` shows them and `restore` chooses among them: one
 * place for both, so the CLI and the tests see the same thing.
 */
import {
  driverOfSource,
  positionOrder,
  type PositionOrder,
  type WrittenBy,
} from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import type { Repository, SnapshotFilter, SnapshotManifest } from '../repository/repository-api.js';
import { isPartialSnapshot } from '../repository/retention.js';
import { UsageError } from '../util/errors.js';
import { formatMicros } from '../util/time.js';
import { restoreWindows } from './windows.js';

/** The source named `name`, or the repository's only source when no name is given. */
export async function pickSource(repo: Repository, name: string | undefined): Promise<string> {
  const sources = await repo.sources();
  if (name) {
    if (!sources.includes(name)) {
      throw new UsageError(
        `The repository has no source "${name}"; it has ${sources.length ? sources.map((s) => `"${s}"`).join(', ') : 'none'}.`,
      );
    }
    return name;
  }
  if (sources.length === 1) return sources[0]!;
  if (sources.length === 0) throw new UsageError('The repository holds no backups yet.');
  throw new UsageError(
    `The repository holds several sources (${sources.map((s) => `"${s}"`).join(', ')}); choose one with --name.`,
  );
}

export interface SourceListing {
  readonly source: string;
  /** The driver that wrote the source's backups (manifests' `driver`). */
  readonly driver: string;
  readonly snapshots: ReadonlyArray<{
    id: string;
    consistentAt: string;
    tags: readonly string[];
    tables: number;
    rows: number;
    bytes: number;
    /** Taken with --tables/--schemas: holds only some tables, never stands in for the whole database. */
    partial: boolean;
    /** The filter a partial snapshot was taken with, as given. */
    filter?: SnapshotFilter;
  }>;
  readonly segments: number;
  readonly logBytes: number;
  /** The times the whole database can be restored to: from full snapshots only. */
  readonly restorable: ReadonlyArray<{ from: string; to: string }>;
}

/** Every source (or the one named), its snapshots oldest first, and the windows restorable to. */
export async function listSources(
  repo: Repository,
  name?: string,
  drivers: Drivers = registry,
): Promise<SourceListing[]> {
  const out: SourceListing[] = [];
  const sources = name ? [name] : await repo.sources();
  for (const source of sources) {
    const snapshots = await repo.listSnapshots({ source });
    const segments = await repo.listSegments(source);
    const driver = await driverOfSource([...snapshots, ...segments], drivers);
    out.push({
      source,
      driver: driver?.kind ?? '',
      snapshots: [...snapshots]
        .sort((a, b) => compareMicros(a.consistentAtMicros, b.consistentAtMicros))
        .map((s: SnapshotManifest) => ({
          id: s.id,
          consistentAt: s.consistentAt,
          tags: s.tags,
          tables: new Set(s.streams.map((t) => t.table)).size,
          rows: s.streams.reduce((n, t) => n + (t.rows ?? 0), 0),
          bytes: s.streams.reduce((n, t) => n + t.data.bytes, 0),
          partial: isPartialSnapshot(s),
          ...(isPartialSnapshot(s) ? { filter: s.filter } : {}),
        })),
      segments: segments.length,
      logBytes: segments.reduce((n, s) => n + s.data.bytes, 0),
      restorable: driver
        ? restoreWindows(
            snapshots.filter((s) => !isPartialSnapshot(s)),
            segments,
            driver.comparePositions,
          ).map((w) => ({
            from: formatMicros(w.fromMicros),
            to: formatMicros(w.toMicros),
          }))
        : [],
    });
  }
  return out;
}

function compareMicros(a: string, b: string): number {
  const d = BigInt(a) - BigInt(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/** The position order of every driver that wrote something in the repository (for forget). */
export async function repositoryPositionOrder(
  repo: Repository,
  drivers: Drivers = registry,
): Promise<PositionOrder> {
  const manifests: WrittenBy[] = [];
  for (const source of await repo.sources())
    manifests.push(...(await repo.listSnapshots({ source })), ...(await repo.listSegments(source)));
  return positionOrder(manifests, drivers);
}
