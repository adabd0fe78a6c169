/**
 * The copying itself: each stream's plaintext read from the source repository and written to the
 * destination (whose dedup stores only chunks it lacks), then the manifest committed there with
 * the same fields and its origin. One item after the other, in the plan's order; the streams of
 * one snapshot `jobs` at a time.
 */
import {
  sourceTag,
  type Repository,
  type SnapshotManifest,
  type StoredTableStream,
  type StreamRef,
} from '../repository/index.js';
import { forEachConcurrent } from '../util/concurrency.js';
import { IntegrityError, throwIfAborted } from '../util/errors.js';
import { formatBytes, type Logger } from '../util/log.js';
import { originKey, originOf } from './inventory.js';
import type { OriginCache } from './origin-cache.js';
import type { CopyItem } from './plan.js';

export interface CopyProgress {
  readonly snapshots: number;
  readonly segments: number;
  readonly bytesRead: number;
  /** Manifests not copied because data of theirs in the source is damaged (`kind id`). */
  readonly damaged: readonly string[];
}

export interface TransferRequest {
  readonly from: Repository;
  readonly to: Repository;
  readonly items: readonly CopyItem[];
  readonly jobs?: number;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /** The source lock's signal: the run stops if that lock is lost. */
  readonly lockSignal: AbortSignal;
  readonly toCache: OriginCache;
}

export async function copyItems(req: TransferRequest): Promise<CopyProgress> {
  const { from, to, items, log } = req;
  const signal = req.signal ? AbortSignal.any([req.signal, req.lockSignal]) : req.lockSignal;
  const total = items.reduce((n, i) => n + streamRefs(i).reduce((b, r) => b + r.bytes, 0), 0);
  let snapshots = 0;
  let segments = 0;
  let bytesRead = 0;
  let inFlight = 0;

  const copyStream = async (ref: StreamRef, context: string): Promise<StreamRef> => {
    let seen = 0;
    let copied: StreamRef;
    try {
      copied = await to.writeStream(from.readStream(ref, { signal, context }), {
        signal,
        onProgress: (n) => {
          inFlight += n - seen;
          seen = n;
          log.progress(
            'copy.progress',
            `Copied ${formatBytes(bytesRead + inFlight)} of ${formatBytes(total)}; ${snapshots + segments} of ${items.length} items done`,
            { bytes: bytesRead + inFlight, total, done: snapshots + segments, items: items.length },
          );
        },
      });
    } finally {
      inFlight -= seen;
    }
    bytesRead += copied.bytes;
    if (copied.bytes !== ref.bytes)
      throw new IntegrityError(
        `${context} read back as ${copied.bytes} bytes from ${from.location}, its manifest says ${ref.bytes}; run "crm-backup verify --read-data --repo ${from.location}".`,
        { what: context, expected: String(ref.bytes), got: String(copied.bytes) },
      );
    return copied;
  };

  const damaged: string[] = [];
  for (const item of items) {
    throwIfAborted(signal);
    const m = item.manifest;
    const label = `${item.kind} ${m.id.slice(0, 12)}`;
    try {
      await copyOne(item, label);
    } catch (e) {
      // one damaged object must not stop every later copy; the destination then lacks this item
      // as the source in effect does (a restore that needs it is refused from either)
      if (!(e instanceof IntegrityError)) throw e;
      damaged.push(`${item.kind} ${m.id}`);
      log.error('copy.damaged', `Not copied: ${e.message}`, { source: m.source, id: m.id });
    }
  }
  log.done();
  return { snapshots, segments, bytesRead, damaged };

  async function copyOne(item: CopyItem, label: string): Promise<void> {
    const m = item.manifest;
    const origin = originOf(from.id, m);
    let id: string;
    if (item.kind === 'snapshot') {
      const s = item.manifest;
      const schema = await copyStream(s.schema, `the schema of ${label}`);
      const streams = await copyTables(s, req.jobs ?? 2, (t) => copyStream(t.data, `${label} table ${t.table}`));
      id = await to.commitSnapshot({ ...withoutId(s), schema, streams, origin });
      snapshots++;
      log.info(
        'copy.snapshot',
        `Copied snapshot ${m.id.slice(0, 12)} of ${m.source} (consistent at ${s.consistentAt}) as ${id.slice(0, 12)}.`,
        { source: m.source, id: m.id, copy: id },
      );
    } else {
      const g = item.manifest;
      const data = await copyStream(g.data, label);
      id = await to.commitSegment({ ...withoutId(g), data, origin });
      segments++;
      log.info(
        'copy.segment',
        `Copied log segment ${m.id.slice(0, 12)} of ${m.source} (${g.transactions} transactions up to position ${g.lastPosition}) as ${id.slice(0, 12)}.`,
        { source: m.source, id: m.id, copy: id },
      );
    }
    req.toCache.set(`${item.kind}/${id}`, { origin: originKey(origin), source: sourceTag(to, m.source) });
  }
}

async function copyTables(
  s: SnapshotManifest,
  jobs: number,
  copy: (t: StoredTableStream) => Promise<StreamRef>,
): Promise<StoredTableStream[]> {
  const out: StoredTableStream[] = new Array<StoredTableStream>(s.streams.length);
  await forEachConcurrent(s.streams, jobs, async (t, i) => {
    out[i] = { ...t, data: await copy(t) };
  });
  return out;
}

export function streamRefs(item: CopyItem): StreamRef[] {
  return item.kind === 'snapshot'
    ? [item.manifest.schema, ...item.manifest.streams.map((t) => t.data)]
    : [item.manifest.data];
}

/** The manifest's fields without its id (the destination assigns its own); unknown fields kept. */
function withoutId<T extends { readonly id: string }>(m: T): Omit<T, 'id'> {
  const { id: _id, ...rest } = m;
  return rest;
}
