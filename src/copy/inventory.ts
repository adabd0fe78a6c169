/**
 * What a repository holds, as copy needs to know it: every manifest's origin (where it was first
 * committed) and source tag, from the origin cache or, for manifests it does not know, by reading
 * them (32 at a time). Manifests read are kept for the run, so the source's are not read twice.
 */
import {
  listManifestEntries,
  readManifestEntry,
  segmentSourceTag,
  sourceTag,
  type ManifestEntry,
  type ManifestOrigin,
  type Repository,
  type SegmentManifest,
  type SnapshotManifest,
} from '../repository/index.js';
import { forEachConcurrent } from '../util/concurrency.js';
import type { KnownManifest, OriginCache } from './origin-cache.js';

export type AnyManifest = SnapshotManifest | SegmentManifest;

// small objects: on S3 the latency of each GET, not bandwidth, is what a listing of thousands costs
const READ_PARALLELISM = 32;

/** `kind/id`: how the cache and the inventory name a manifest. */
export function entryName(e: { readonly kind: string; readonly id: string }): string {
  return `${e.kind}/${e.id}`;
}

/** A manifest's origin: the one it records, or itself in `repoId` when it is no copy. */
export function originOf(repoId: string, m: { readonly id: string; readonly origin?: ManifestOrigin }): ManifestOrigin {
  return m.origin ?? { repository: repoId, id: m.id };
}

export function originKey(o: ManifestOrigin): string {
  return `${o.repository}:${o.id}`;
}

export interface Inventory {
  readonly entries: readonly ManifestEntry[];
  /** By entry name. */
  readonly known: ReadonlyMap<string, KnownManifest>;
  /** Manifests read in this run, by entry name. */
  readonly read: Map<string, AnyManifest>;
  /** How many manifests were read from storage in this run (the cost of an idle run). */
  reads: number;
}

export async function takeInventory(
  repo: Repository,
  cache: OriginCache,
  opts: {
    /** Only these sources' segments are listed; snapshots of other sources are known by tag. */
    sources?: readonly string[];
    signal?: AbortSignal;
  },
): Promise<Inventory> {
  const entries = await listManifestEntries(repo, opts);
  const known = new Map<string, KnownManifest>();
  const read = new Map<string, AnyManifest>();
  const unknown: ManifestEntry[] = [];
  for (const e of entries) {
    const hit = cache.get(entryName(e));
    if (hit) known.set(entryName(e), hit);
    else unknown.push(e);
  }
  await forEachConcurrent(unknown, READ_PARALLELISM, async (e) => {
    const m = await readManifestEntry(repo, e, opts.signal);
    const k: KnownManifest = {
      origin: originKey(originOf(repo.id, m)),
      source: segmentSourceTag(e) ?? sourceTag(repo, m.source),
    };
    known.set(entryName(e), k);
    read.set(entryName(e), m);
    cache.set(entryName(e), k);
  });
  const listed = new Set(entries.map(entryName));
  const segmentsListed = opts.sources === undefined;
  // a listing of some sources' segments says nothing of the others'
  cache.retain((key) => listed.has(key) || (!segmentsListed && key.startsWith('segment/')));
  return { entries, known, read, reads: unknown.length };
}

/** Reads the manifests of `entries` not read yet in this run. */
export async function readAll(
  repo: Repository,
  inv: Inventory,
  entries: readonly ManifestEntry[],
  signal?: AbortSignal,
): Promise<AnyManifest[]> {
  await forEachConcurrent(
    entries.filter((e) => !inv.read.has(entryName(e))),
    READ_PARALLELISM,
    async (e) => {
      inv.read.set(entryName(e), await readManifestEntry(repo, e, signal));
      inv.reads++;
    },
  );
  return entries.map((e) => inv.read.get(entryName(e)) as AnyManifest);
}
