/**
 * verifyRepository: structure mode checks that the config, every key file and every manifest
 * authenticate and that every referenced chunk exists with a plausible size; `readData` also
 * downloads, decrypts and authenticates every referenced chunk and recomputes its id from the plaintext.
 * Each problem names what it affects (snapshot and table, or segment), so the operator knows what is lost.
 * `readDataSubset` {n, m} reads only the chunks of part n of m (by chunk id: deterministic, parts of
 * about equal size, together all of them), so a weekly run with n cycling reads a large repository
 * over m weeks, as restic's `--read-data-subset n/m` does; the structure check still covers every chunk.
 */
import { throwIfAborted } from '../util/errors.js';
import type { Repository, RepositoryLock } from './repository-api.js';
import { checkConfigMac, readConfig } from './config.js';
import { chunkKey, ENVELOPE_OVERHEAD, PATHS } from './format.js';
import { parseKeyFile } from './keys.js';
import { listKeyIds } from './key-ring.js';
import { forEachLimit } from './limiter.js';
import { readObject } from './object-io.js';
import { scanReferences, type Affected } from './references.js';
import { asCrm } from './internal.js';
import { fetchChunk } from './stream-reader.js';

export interface VerifyProblem {
  /** Storage key of the damaged or missing object, e.g. `data/ab/ab12…` or `snapshots/…`. */
  readonly object: string;
  readonly problem: string;
  readonly affects: readonly Affected[];
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly problems: readonly VerifyProblem[];
  /** `chunksRead`: chunks downloaded, decrypted and authenticated (all with readData, part n/m with a subset). */
  readonly checked: { snapshots: number; segments: number; keys: number; chunks: number; chunksRead: number; chunkBytesRead: number };
}

/** Part `n` of `m` (1 ≤ n ≤ m) of the chunks, for verify --read-data-subset n/m. */
export interface DataSubset {
  readonly n: number;
  readonly m: number;
}

/** Whether chunk `id` (hex, a keyed hash: uniformly spread) is in part n of m. */
export function inSubset(id: string, subset: DataSubset): boolean {
  return Number.parseInt(id.slice(0, 8), 16) % subset.m === subset.n - 1;
}

export interface VerifyOptions {
  readonly readData: boolean;
  /** With readData: read only this part of the chunks. */
  readonly readDataSubset?: DataSubset;
  /** The caller's shared lock: what verify reads is held against a prune running beside it. */
  readonly lock?: RepositoryLock;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: { phase: 'manifests' | 'chunks'; done: number; total: number }) => void;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export async function verifyRepository(repository: Repository, opts: VerifyOptions): Promise<VerifyReport> {
  const repo = asCrm(repository);
  const { storage, keys } = repo;
  const problems: VerifyProblem[] = [];
  try {
    checkConfigMac(storage, await readConfig(storage), keys);
  } catch (e) {
    problems.push({ object: PATHS.config, problem: message(e), affects: [] });
  }
  const keyIds = await listKeyIds(storage);
  for (const id of keyIds) {
    try {
      parseKeyFile(storage.location, id, await readObject(storage, `${PATHS.keys}${id}`));
    } catch (e) {
      problems.push({ object: `${PATHS.keys}${id}`, problem: message(e), affects: [] });
    }
  }
  opts.onProgress?.({ phase: 'manifests', done: 0, total: 0 });
  const scan = await scanReferences(storage, keys, opts.signal);
  const reads = scan.snapshots.flatMap((s) => [s.schema, ...s.streams.map((t) => t.data)]);
  await opts.lock?.hold([...reads, ...scan.segments.map((g) => g.data)], { signal: opts.signal });
  for (const u of scan.unreadable) {
    problems.push({ object: u.key, problem: message(u.error), affects: [{ kind: u.kind, id: u.id, source: '(unknown: manifest unreadable)' }] });
  }
  const present = new Map<string, number>();
  for await (const o of storage.list(PATHS.data, { signal: opts.signal })) present.set(o.key, o.size);

  const referenced = [...scan.chunks.entries()];
  let done = 0;
  let bytes = 0;
  let read = 0;
  const subset = opts.readDataSubset;
  await forEachLimit(referenced, 4, async ([id, use]) => {
    throwIfAborted(opts.signal);
    const key = chunkKey(id);
    const size = present.get(key);
    if (size === undefined) {
      problems.push({ object: key, problem: 'chunk is missing', affects: use.affects });
    } else if (size <= ENVELOPE_OVERHEAD || (use.size >= 0 && size > use.size + ENVELOPE_OVERHEAD)) {
      problems.push({ object: key, problem: `chunk object is ${size} bytes, implausible for ${use.size} bytes of plaintext`, affects: use.affects });
    } else if (opts.readData && (!subset || inSubset(id, subset))) {
      read++;
      try {
        // read the length first: `bytes += await …` would add to the value from before the await
        const n = (await fetchChunk({ storage, codec: repo.codec(), readAhead: 1 }, id, use.size >= 0 ? use.size : undefined, undefined, opts.signal)).length;
        bytes += n;
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        problems.push({ object: key, problem: message(e), affects: use.affects });
      }
    }
    opts.onProgress?.({ phase: 'chunks', done: ++done, total: referenced.length });
  });
  problems.sort((a, b) => a.object.localeCompare(b.object));
  return {
    ok: problems.length === 0,
    problems,
    checked: { snapshots: scan.snapshots.length, segments: scan.segments.length, keys: keyIds.length, chunks: referenced.length, chunksRead: read, chunkBytesRead: bytes },
  };
}
