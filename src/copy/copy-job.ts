/**
 * `crm-backup copy`: the snapshots and log segments of one repository that another lacks, copied
 * into it. The two repositories have their own keys and chunker, so chunk ids differ: each stream's
 * plaintext is read from the source (authenticated chunk by chunk) and written to the destination,
 * whose dedup stores only the chunks it lacks; the manifest is then committed there with the same
 * fields and an `origin`, by which later runs know what the destination holds without reading data.
 *
 * Every manifest committed is a complete copy, so a run killed half way leaves the destination
 * consistent: the next run copies what is missing, reusing the chunks the killed run wrote (or a
 * prune removes them). Nothing is locked and nothing written while there is nothing to copy.
 */
import { positionOrder } from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import {
  listManifestEntries,
  sourceTag,
  type Repository,
  type SegmentManifest,
  type SnapshotManifest,
} from '../repository/index.js';
import { throwIfAborted, UsageError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import { takeInventory, entryName, readAll, type Inventory } from './inventory.js';
import { OriginCache } from './origin-cache.js';
import { planCopy, sinceAnchors, type CopyItem } from './plan.js';
import { copyItems, streamRefs, type CopyProgress } from './transfer.js';

export interface CopyRequest {
  readonly from: Repository;
  readonly to: Repository;
  /** Only these sources (`--name`); default all. */
  readonly sources?: readonly string[];
  /** `--since`: snapshots consistent at or after it and the log a restore from them needs. */
  readonly sinceMicros?: bigint;
  /** Streams of one snapshot copied at once (default 2). */
  readonly jobs?: number;
  /** Where the origin caches live (`$XDG_CACHE_HOME/crm-backup/copy`); none: read every manifest. */
  readonly cacheDir?: string;
  /** Objects and bytes the destination's storage took so far (a counting decorator), for the summary. */
  readonly written?: () => { readonly objects: number; readonly bytes: number };
  readonly log: Logger;
  readonly signal?: AbortSignal;
  readonly drivers?: Drivers;
}

export interface CopySummary {
  readonly from: string;
  readonly to: string;
  readonly snapshots: number;
  readonly segments: number;
  /** Manifests of the chosen sources the destination already held. */
  readonly alreadyThere: number;
  /** Left out by --since. */
  readonly tooOld: number;
  /** Not copied because data of theirs in the source is damaged (`kind id`); the CLI exits 3. */
  readonly damaged: readonly string[];
  /** Plaintext bytes read from the source. */
  readonly bytesRead: number;
  /** Objects (chunks, manifests, locks) and their bytes written to the destination's storage. */
  readonly objectsWritten: number;
  readonly bytesWritten: number;
  /** Manifests read from either repository's storage (what the origin cache did not know). */
  readonly manifestsRead: number;
  readonly durationMs: number;
}

export async function runCopy(req: CopyRequest): Promise<CopySummary> {
  const { from, to, log, signal } = req;
  const started = Date.now();
  if (from.id === to.id)
    throw new UsageError(
      `${from.location} and ${to.location} are the same repository (id ${from.id.slice(0, 12)}); copy needs another one as --to.`,
    );
  const writtenAtStart = req.written?.() ?? { objects: 0, bytes: 0 };
  const cacheDir = req.cacheDir;
  const [fromCache, toCache] = await Promise.all([OriginCache.load(from, cacheDir), OriginCache.load(to, cacheDir)]);
  try {
    const opts = { sources: req.sources, signal };
    const [a, b] = await Promise.all([takeInventory(from, fromCache, opts), takeInventory(to, toCache, opts)]);
    const wanted = req.sources && new Set(req.sources.map((s) => sourceTag(from, s)));
    if (req.sources) refuseUnknownSources(from, req.sources, a);
    const present = new Set([...b.known.values()].map((k) => k.origin));
    const chosen = a.entries.filter((e) => !wanted || wanted.has(a.known.get(entryName(e))!.source));
    const missing = chosen.filter((e) => !present.has(a.known.get(entryName(e))!.origin));
    const manifests = await readAll(from, a, missing, signal);
    const snapshots = manifests.filter((m): m is SnapshotManifest => 'consistentAtMicros' in m);
    const segments = manifests.filter((m): m is SegmentManifest => 'lastPosition' in m);
    const anchors =
      req.sinceMicros === undefined
        ? undefined
        : sinceAnchors(await allSnapshots(from, a, chosen, signal), req.sinceMicros);
    const order = await positionOrder(segments, req.drivers ?? registry);
    const plan = planCopy({ snapshots, segments, sinceMicros: req.sinceMicros, anchors, order });
    const base = {
      from: from.location,
      to: to.location,
      alreadyThere: chosen.length - missing.length,
      tooOld: plan.tooOld,
    };
    let done: CopyProgress = { snapshots: 0, segments: 0, bytesRead: 0, damaged: [] };
    if (plan.items.length === 0) {
      log.info('copy.none', `Nothing to copy: ${to.location} holds all ${base.alreadyThere} snapshots and log segments${req.sources ? ` of ${req.sources.join(', ')}` : ''} of ${from.location}${plan.tooOld ? ` (${plan.tooOld} older than --since left out)` : ''}.`);
    } else {
      log.info('copy.plan', `Copying ${describeItems(plan.items)} from ${from.location} to ${to.location} (${base.alreadyThere} already there).`);
      done = await copyLocked(req, plan.items, toCache);
    }
    const written = req.written?.() ?? writtenAtStart;
    const summary: CopySummary = {
      ...base,
      ...done,
      objectsWritten: written.objects - writtenAtStart.objects,
      bytesWritten: written.bytes - writtenAtStart.bytes,
      manifestsRead: a.reads + b.reads,
      durationMs: Date.now() - started,
    };
    return summary;
  } finally {
    // what was learnt is kept even when the run fails or is interrupted
    await Promise.all([fromCache.save(), toCache.save()]).catch((e: unknown) =>
      log.warn('copy.cache', `Could not save the copy cache in ${cacheDir ?? '(none)'}: ${e instanceof Error ? e.message : String(e)}; the next run reads the manifests again.`),
    );
  }
}

/**
 * Takes the source's shared lock and holds what is about to be read, so a prune beside this run
 * cannot delete it. A manifest forgotten between the listing and the lock is left out; a prune
 * that already deleted chunks of one makes hold() refuse, and the command is run again.
 */
async function copyLocked(req: CopyRequest, items: readonly CopyItem[], toCache: OriginCache): Promise<CopyProgress> {
  const { from, signal } = req;
  const lock = await from.lock('shared', { purpose: 'copy', signal });
  try {
    const sources = [...new Set(items.filter((i) => i.kind === 'segment').map((i) => i.manifest.source))];
    const still = new Set((await listManifestEntries(from, { sources, signal })).map(entryName));
    const kept = items.filter((i) => still.has(entryName({ kind: i.kind, id: i.manifest.id })));
    if (kept.length < items.length)
      req.log.info('copy.forgotten', `${items.length - kept.length} of them were forgotten meanwhile; left out.`);
    await lock.hold(kept.flatMap(streamRefs), { signal });
    throwIfAborted(signal);
    return await copyItems({ ...req, items: kept, lockSignal: lock.signal, toCache });
  } finally {
    await lock.release().catch(() => {});
  }
}

/** --name must name sources the source repository has (or had): a typo copies nothing silently otherwise. */
function refuseUnknownSources(from: Repository, sources: readonly string[], inv: Inventory): void {
  const held = new Set([...inv.known.values()].map((k) => k.source));
  const unknown = sources.filter((s) => !held.has(sourceTag(from, s)));
  if (unknown.length)
    throw new UsageError(
      `${from.location} holds no snapshot or log segment of ${unknown.map((s) => `"${s}"`).join(', ')}; "crm-backup list --repo ${from.location}" shows its sources (nothing was copied).`,
    );
}

async function allSnapshots(
  from: Repository,
  inv: Inventory,
  chosen: Inventory['entries'],
  signal?: AbortSignal,
): Promise<SnapshotManifest[]> {
  const snaps = chosen.filter((e) => e.kind === 'snapshot');
  return (await readAll(from, inv, snaps, signal)) as SnapshotManifest[];
}

function describeItems(items: readonly CopyItem[]): string {
  const n = items.filter((i) => i.kind === 'snapshot').length;
  const m = items.length - n;
  return `${n} snapshot${n === 1 ? '' : 's'} and ${m} log segment${m === 1 ? '' : 's'}`;
}
