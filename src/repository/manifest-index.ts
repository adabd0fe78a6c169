/**
 * A repository's manifests by storage key, listed without reading them, and read one at a time:
 * for callers that remember across runs what a key holds (copy keeps such a cache), so a run over
 * an unchanged repository costs a listing and no reads. Manifests are immutable and their key
 * holds their keyed hash, so what a key held once it holds for as long as it exists.
 */
import type { Repository, SegmentManifest, SnapshotManifest } from './repository-api.js';
import { hmacHex } from './crypto.js';
import { LABEL_LOCAL_CACHE, PATHS } from './format.js';
import { asCrm } from './internal.js';
import { decodeManifest, sourceHash } from './manifests.js';
import { readObject } from './object-io.js';

export interface ManifestEntry {
  readonly kind: 'snapshot' | 'segment';
  /** Storage key: `snapshots/<id>` or `segments/<source hash>/<id>`. */
  readonly key: string;
  readonly id: string;
}

/**
 * Every snapshot manifest, and the segment manifests of `sources` (all when undefined): segments
 * are stored under a keyed hash of their source, so other sources' are not even listed.
 */
export async function listManifestEntries(
  repository: Repository,
  opts: { sources?: readonly string[]; signal?: AbortSignal } = {},
): Promise<ManifestEntry[]> {
  const { storage, keys } = asCrm(repository);
  const signal = opts.signal ? { signal: opts.signal } : undefined;
  const prefixes = opts.sources
    ? opts.sources.map((s) => `${PATHS.segments}${sourceHash(keys, s)}/`)
    : [PATHS.segments];
  const lists = await Promise.all(
    [PATHS.snapshots, ...prefixes].map(async (prefix) => {
      const out: ManifestEntry[] = [];
      const kind = prefix === PATHS.snapshots ? 'snapshot' : 'segment';
      for await (const o of storage.list(prefix, signal))
        out.push({ kind, key: o.key, id: o.key.slice(o.key.lastIndexOf('/') + 1) });
      return out;
    }),
  );
  return lists.flat();
}

/** Reads and authenticates the manifest an entry names; throws IntegrityError when it is damaged. */
export async function readManifestEntry(
  repository: Repository,
  entry: ManifestEntry,
  signal?: AbortSignal,
): Promise<SnapshotManifest | SegmentManifest> {
  const { storage, keys } = asCrm(repository);
  const object = await readObject(storage, entry.key, signal);
  return entry.kind === 'snapshot'
    ? decodeManifest(keys, 'snapshot', entry.id, object)
    : decodeManifest(keys, 'segment', entry.id, object);
}

/** The keyed hash of a source name that segment keys hold (`segments/<source tag>/`): no name in clear. */
export function sourceTag(repository: Repository, source: string): string {
  return sourceHash(asCrm(repository).keys, source);
}

/** The source tag in a segment's storage key. */
export function segmentSourceTag(entry: ManifestEntry): string | undefined {
  return entry.kind === 'segment' ? entry.key.slice(PATHS.segments.length).split('/')[0] : undefined;
}

/**
 * A keyed digest of `text` with the repository's id key: a local cache about the repository
 * carries one, so a cache edited by hand, or written for another repository, is not trusted.
 */
export function repositoryDigest(repository: Repository, text: string): string {
  return hmacHex(asCrm(repository).keys.idKey, LABEL_LOCAL_CACHE, text);
}
