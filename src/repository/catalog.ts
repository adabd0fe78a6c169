/**
 * The manifests of a repository, listed from storage and decrypted once per open (manifests are
 * immutable; each listing picks up new ones and drops deleted ones).
 */
import type { StorageBackend } from '../storage/storage-backend.js';
import type {
  DrillRecord,
  NewDrill,
  NewSegment,
  NewSnapshot,
  SegmentManifest,
  SnapshotManifest,
} from './repository-api.js';
import type { MasterKeys } from './crypto.js';
import { PATHS } from './format.js';
import { decodeManifest, drillKey, encodeManifest, segmentKey, snapshotKey, sourceHash } from './manifests.js';
import { putAddressed, readObject } from './object-io.js';

/** Manifests fetched at once when a listing finds new ones. */
const FETCH_PARALLELISM = 8;

export class ManifestCatalog {
  private readonly snapshotCache = new Map<string, SnapshotManifest>();
  /** Keyed by storage key (`segments/<source hash>/<id>`). */
  private readonly segmentCache = new Map<string, SegmentManifest>();
  /** Keyed by storage key (`drills/<source hash>/<id>`). */
  private readonly drillCache = new Map<string, DrillRecord>();

  constructor(
    private readonly storage: StorageBackend,
    private readonly keys: MasterKeys,
    private readonly level: number,
  ) {}

  async putSnapshot(m: NewSnapshot): Promise<string> {
    const { id, object } = encodeManifest(this.keys, 'snapshot', m, this.level);
    await putAddressed(this.storage, snapshotKey(id), object);
    this.snapshotCache.set(id, { ...m, id });
    return id;
  }

  async putSegment(m: NewSegment): Promise<string> {
    const { id, object } = encodeManifest(this.keys, 'segment', m, this.level);
    const key = segmentKey(this.keys, m.source, id);
    await putAddressed(this.storage, key, object);
    this.segmentCache.set(key, { ...m, id });
    return id;
  }

  async putDrill(d: NewDrill): Promise<string> {
    const { id, object } = encodeManifest(this.keys, 'drill', d, this.level);
    const key = drillKey(this.keys, d.source, id);
    await putAddressed(this.storage, key, object);
    this.drillCache.set(key, { ...d, id });
    return id;
  }

  /** Drill records, oldest first; of one source when given. */
  async drills(source?: string): Promise<DrillRecord[]> {
    const prefix = source === undefined ? PATHS.drills : `${PATHS.drills}${sourceHash(this.keys, source)}/`;
    const keys = await this.refresh(
      prefix,
      this.drillCache,
      (key) => {
        const id = key.slice(key.lastIndexOf('/') + 1);
        return readObject(this.storage, key).then((o) => decodeManifest(this.keys, 'drill', id, o));
      },
      (key) => key,
      source === undefined,
    );
    return keys
      .map((k) => this.drillCache.get(k) as DrillRecord)
      .filter((d) => source === undefined || d.source === source)
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  }

  async snapshots(source?: string): Promise<SnapshotManifest[]> {
    const keys = await this.refresh(
      PATHS.snapshots,
      this.snapshotCache,
      (key) => {
        const id = key.slice(PATHS.snapshots.length);
        return readObject(this.storage, key).then((o) => decodeManifest(this.keys, 'snapshot', id, o));
      },
      (key) => key.slice(PATHS.snapshots.length),
    );
    return keys
      .map((id) => this.snapshotCache.get(id) as SnapshotManifest)
      .filter((m) => source === undefined || m.source === source)
      .sort((a, b) => compareMicros(a.consistentAtMicros, b.consistentAtMicros) || a.id.localeCompare(b.id));
  }

  /** Every segment of every source (verify, prune, sources()). */
  async allSegments(): Promise<SegmentManifest[]> {
    const keys = await this.refresh(
      PATHS.segments,
      this.segmentCache,
      (key) => {
        const id = key.slice(key.lastIndexOf('/') + 1);
        return readObject(this.storage, key).then((o) => decodeManifest(this.keys, 'segment', id, o));
      },
      (key) => key,
    );
    return keys.map((k) => this.segmentCache.get(k) as SegmentManifest);
  }

  async segments(source: string): Promise<SegmentManifest[]> {
    const prefix = `${PATHS.segments}${sourceHash(this.keys, source)}/`;
    const keys = await this.refresh(
      prefix,
      this.segmentCache,
      (key) => {
        const id = key.slice(prefix.length);
        return readObject(this.storage, key).then((o) => decodeManifest(this.keys, 'segment', id, o));
      },
      (key) => key,
      false,
    );
    return keys
      .map((k) => this.segmentCache.get(k) as SegmentManifest)
      .filter((m) => m.source === source)
      // Storage order, made stable. Positions are opaque here: only the driver that wrote them
      // can order them (binlog file:pos, GTID sets and cluster times do not sort as strings).
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  async sources(): Promise<string[]> {
    const names = new Set<string>();
    for (const s of await this.snapshots()) names.add(s.source);
    for (const s of await this.allSegments()) names.add(s.source);
    return [...names].sort();
  }

  async deleteSnapshot(id: string): Promise<void> {
    await this.storage.delete(snapshotKey(id));
    this.snapshotCache.delete(id);
  }

  async deleteSegment(m: SegmentManifest): Promise<void> {
    const key = segmentKey(this.keys, m.source, m.id);
    await this.storage.delete(key);
    this.segmentCache.delete(key);
  }

  /**
   * Lists `prefix`, fetches manifests not yet cached, forgets cached ones no longer listed (only when
   * `prune` and the listing covers the whole cache). Returns the cache keys present in storage.
   */
  private async refresh<T>(
    prefix: string,
    cache: Map<string, T>,
    fetch: (key: string) => Promise<T>,
    cacheKey: (storageKey: string) => string,
    prune = true,
  ): Promise<string[]> {
    const present: string[] = [];
    const missing: string[] = [];
    for await (const o of this.storage.list(prefix)) {
      const ck = cacheKey(o.key);
      present.push(ck);
      if (!cache.has(ck)) missing.push(o.key);
    }
    for (let i = 0; i < missing.length; i += FETCH_PARALLELISM) {
      const batch = missing.slice(i, i + FETCH_PARALLELISM);
      const got = await Promise.all(batch.map(fetch));
      batch.forEach((key, j) => cache.set(cacheKey(key), got[j] as T));
    }
    if (prune) {
      const keep = new Set(present);
      for (const k of cache.keys()) if (!keep.has(k)) cache.delete(k);
    }
    return present;
  }
}

function compareMicros(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
