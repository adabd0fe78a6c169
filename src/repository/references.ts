/**
 * Which manifests reference which chunks, read straight from storage (not the per-open cache) so
 * verify and prune see exactly what is there. A manifest that cannot be read is reported, not skipped.
 */
import type { StorageBackend } from '../storage/storage-backend.js';
import type { SegmentManifest, SnapshotManifest } from './repository-api.js';
import type { MasterKeys } from './crypto.js';
import { PATHS } from './format.js';
import { forEachLimit } from './limiter.js';
import { decodeManifest } from './manifests.js';
import { readObject } from './object-io.js';

export interface Affected {
  readonly kind: 'snapshot' | 'segment';
  readonly id: string;
  readonly source: string;
  readonly table?: string;
}

export interface ChunkUse {
  /** Plaintext size recorded by the first manifest that references the chunk. */
  readonly size: number;
  readonly affects: Affected[];
}

export interface ReferenceScan {
  readonly snapshots: SnapshotManifest[];
  readonly segments: SegmentManifest[];
  readonly chunks: Map<string, ChunkUse>;
  /** Manifests that failed to read or authenticate: storage key and error. */
  readonly unreadable: { key: string; kind: 'snapshot' | 'segment'; id: string; error: unknown }[];
}

export async function scanReferences(storage: StorageBackend, keys: MasterKeys, signal?: AbortSignal): Promise<ReferenceScan> {
  const scan: ReferenceScan = { snapshots: [], segments: [], chunks: new Map(), unreadable: [] };
  const objects: { key: string; kind: 'snapshot' | 'segment' }[] = [];
  for await (const o of storage.list(PATHS.snapshots, { signal })) objects.push({ key: o.key, kind: 'snapshot' });
  for await (const o of storage.list(PATHS.segments, { signal })) objects.push({ key: o.key, kind: 'segment' });
  await forEachLimit(objects, 8, async ({ key, kind }) => {
    const id = key.slice(key.lastIndexOf('/') + 1);
    try {
      const raw = await readObject(storage, key, signal);
      if (kind === 'snapshot') scan.snapshots.push(decodeManifest(keys, 'snapshot', id, raw));
      else scan.segments.push(decodeManifest(keys, 'segment', id, raw));
    } catch (e) {
      if (signal?.aborted) throw e;
      scan.unreadable.push({ key, kind, id, error: e });
    }
  });
  const use = (id: string, size: number | undefined, who: Affected): void => {
    const u = scan.chunks.get(id);
    if (u) {
      if (!u.affects.some((a) => a.id === who.id && a.table === who.table)) u.affects.push(who);
    } else scan.chunks.set(id, { size: size ?? -1, affects: [who] });
  };
  for (const s of scan.snapshots) {
    s.schema.chunks.forEach((c, i) => use(c, s.schema.sizes[i], { kind: 'snapshot', id: s.id, source: s.source, table: '(schema)' }));
    for (const t of s.streams) {
      t.data.chunks.forEach((c, i) => use(c, t.data.sizes[i], { kind: 'snapshot', id: s.id, source: s.source, table: t.table }));
    }
  }
  for (const g of scan.segments) {
    g.data.chunks.forEach((c, i) => use(c, g.data.sizes[i], { kind: 'segment', id: g.id, source: g.source }));
  }
  return scan;
}
