/**
 * Snapshot and segment manifests: JSON, zstd-compressed and sealed; the id is the keyed hash of the
 * JSON, so a manifest can be re-verified from its plaintext. Source names are data and only appear
 * inside encrypted manifests; storage keys use a keyed hash of them.
 */
import { IntegrityError } from '../util/errors.js';
import type {
  DrillRecord,
  NewDrill,
  NewSegment,
  NewSnapshot,
  SegmentManifest,
  SnapshotManifest,
} from './repository-api.js';
import { decodeAddressed, encodeObject } from './codec.js';
import { hmacHex, ObjectDamage, type MasterKeys } from './crypto.js';
import { LABEL_SOURCE, PATHS, SOURCE_HASH_LEN } from './format.js';

/** Bumped when a field changes meaning; readers refuse manifests newer than they know. */
export const MANIFEST_VERSION = 1;

export type ManifestKind = 'snapshot' | 'segment' | 'drill';

export function sourceHash(keys: MasterKeys, source: string): string {
  return hmacHex(keys.idKey, LABEL_SOURCE, source).slice(0, SOURCE_HASH_LEN * 2);
}

export function snapshotKey(id: string): string {
  return `${PATHS.snapshots}${id}`;
}

export function segmentKey(keys: MasterKeys, source: string, id: string): string {
  return `${PATHS.segments}${sourceHash(keys, source)}/${id}`;
}

export function drillKey(keys: MasterKeys, source: string, id: string): string {
  return `${PATHS.drills}${sourceHash(keys, source)}/${id}`;
}

/** Serialises a manifest (without id) and seals it; the id is the keyed hash of the JSON bytes. */
export function encodeManifest(
  keys: MasterKeys,
  kind: ManifestKind,
  m: NewSnapshot | NewSegment | NewDrill,
  level: number,
): { id: string; object: Uint8Array } {
  const json = Buffer.from(
    JSON.stringify({ manifestVersion: MANIFEST_VERSION, ...m, id: undefined }),
    'utf8',
  );
  const id = hmacHex(keys.idKey, json);
  return { id, object: encodeObject(keys, kind, id, json, level) };
}

export function manifestDamage(
  kind: ManifestKind,
  id: string,
  reason: string,
  cause?: unknown,
): IntegrityError {
  return new IntegrityError(
    `The ${kind} manifest ${id} is damaged (${reason}); run "crm-backup verify --read-data" for details.`,
    { what: `${kind} ${id}`, cause },
  );
}

export function decodeManifest(
  keys: MasterKeys,
  kind: 'snapshot',
  id: string,
  object: Uint8Array,
): SnapshotManifest;
export function decodeManifest(
  keys: MasterKeys,
  kind: 'segment',
  id: string,
  object: Uint8Array,
): SegmentManifest;
export function decodeManifest(keys: MasterKeys, kind: 'drill', id: string, object: Uint8Array): DrillRecord;
export function decodeManifest(
  keys: MasterKeys,
  kind: ManifestKind,
  id: string,
  object: Uint8Array,
): SnapshotManifest | SegmentManifest | DrillRecord {
  let plain: Buffer;
  try {
    plain = decodeAddressed(keys, kind, id, object);
  } catch (e) {
    if (e instanceof ObjectDamage) throw manifestDamage(kind, id, e.reason, e);
    throw e;
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(plain.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw manifestDamage(kind, id, 'its JSON does not parse', e);
  }
  const v = parsed['manifestVersion'];
  if (typeof v !== 'number' || v > MANIFEST_VERSION) {
    throw new IntegrityError(
      `The ${kind} manifest ${id} has version ${String(v)}, newer than this crm-backup reads (${MANIFEST_VERSION}); upgrade crm-backup.`,
      { what: `${kind} ${id}` },
    );
  }
  delete parsed['manifestVersion'];
  return { ...parsed, id } as unknown as SnapshotManifest | SegmentManifest | DrillRecord;
}
