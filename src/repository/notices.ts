/**
 * The two objects of the concurrent prune protocol (docs/FORMAT.md, "Locks"):
 * - a notice `notices/<prune lock id>`: the chunks a running prune is about to delete;
 * - holds `holds/<lock id>`: the chunks a lock holder wrote, reused or is about to read that the
 *   prune must keep although no manifest references them (yet, or any more).
 * A process learns notices through `NoticeBoard` and acknowledges them in its lock objects; the
 * prune waits for those acknowledgements, then reads the holds, and deletes only what is left.
 */
import type { StorageBackend } from '../storage/storage-backend.js';
import { RepositoryError } from '../util/errors.js';
import { decodeObject, encodeObject } from './codec.js';
import type { MasterKeys } from './crypto.js';
import { PATHS, type ObjectType } from './format.js';
import { isNotFound, readObject } from './object-io.js';

interface ChunkList {
  readonly created: string;
  readonly chunks: readonly string[];
}

/** The notices this process has read, by the id of the prune lock that wrote each. */
export class NoticeBoard {
  private readonly known = new Map<string, ReadonlySet<string>>();
  private readonly listeners: ((chunks: ReadonlySet<string>) => void)[] = [];

  constructor(
    private readonly storage: StorageBackend,
    private readonly keys: MasterKeys,
  ) {}

  /** Called with the chunks of every notice when it is first read (the chunk index drops them). */
  onNotice(fn: (chunks: ReadonlySet<string>) => void): void {
    this.listeners.push(fn);
  }

  /** The prune (its lock id) that announced it deletes `chunk`, if this process has read such a notice. */
  condemnedBy(chunk: string): string | undefined {
    for (const [prune, chunks] of this.known) if (chunks.has(chunk)) return prune;
    return undefined;
  }

  get ids(): string[] {
    return [...this.known.keys()].sort();
  }

  /**
   * Lists the notices and reads the ones not known yet. Returns a function that makes the result
   * current, synchronously, so that a caller can take it and a snapshot of its holds in one step.
   */
  async fetch(): Promise<() => void> {
    const listed = new Set<string>();
    for await (const o of this.storage.list(PATHS.notices)) listed.add(o.key.slice(PATHS.notices.length));
    const fresh = new Map<string, ReadonlySet<string>>();
    for (const id of listed) {
      if (this.known.has(id)) continue;
      const body = await readList(this.storage, this.keys, 'notice', PATHS.notices, id);
      if (body) fresh.set(id, new Set(body.chunks));
    }
    return () => {
      for (const id of this.known.keys()) if (!listed.has(id)) this.known.delete(id);
      for (const [id, chunks] of fresh) {
        this.known.set(id, chunks);
        for (const fn of this.listeners) fn(chunks);
      }
    };
  }
}

export async function publishNotice(
  storage: StorageBackend,
  keys: MasterKeys,
  pruneLockId: string,
  chunks: Iterable<string>,
): Promise<void> {
  await writeList(storage, keys, 'notice', PATHS.notices, pruneLockId, chunks);
}

export async function writeHolds(
  storage: StorageBackend,
  keys: MasterKeys,
  lockId: string,
  chunks: Iterable<string>,
): Promise<void> {
  await writeList(storage, keys, 'hold', PATHS.holds, lockId, chunks);
}

/** The union of the holds of the given locks. A hold that cannot be read stops the caller (prune). */
export async function readHolds(
  storage: StorageBackend,
  keys: MasterKeys,
  lockIds: ReadonlySet<string>,
): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of storage.list(PATHS.holds)) {
    const id = o.key.slice(PATHS.holds.length);
    if (!lockIds.has(id)) continue;
    const body = await readList(storage, keys, 'hold', PATHS.holds, id);
    for (const c of body?.chunks ?? []) out.add(c);
  }
  return out;
}

/** Ids of the locks that own a hold or a notice (to find those whose lock is gone). */
export async function protocolOwners(storage: StorageBackend): Promise<Set<string>> {
  const out = new Set<string>();
  for (const prefix of [PATHS.holds, PATHS.notices]) {
    for await (const o of storage.list(prefix)) out.add(o.key.slice(prefix.length));
  }
  return out;
}

/** Deletes the hold and the notice of a lock (released, or removed as stale). */
export async function removeProtocolObjects(storage: StorageBackend, lockId: string): Promise<void> {
  for (const prefix of [PATHS.holds, PATHS.notices]) {
    await storage.delete(`${prefix}${lockId}`).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }
}

async function writeList(
  storage: StorageBackend,
  keys: MasterKeys,
  type: ObjectType,
  prefix: string,
  id: string,
  chunks: Iterable<string>,
): Promise<void> {
  const body: ChunkList = { created: new Date().toISOString(), chunks: [...chunks] };
  await storage.put(
    `${prefix}${id}`,
    encodeObject(keys, type, id, Buffer.from(JSON.stringify(body), 'utf8'), 3),
  );
}

async function readList(
  storage: StorageBackend,
  keys: MasterKeys,
  type: ObjectType,
  prefix: string,
  id: string,
): Promise<ChunkList | undefined> {
  let raw: Uint8Array;
  try {
    raw = await readObject(storage, `${prefix}${id}`);
  } catch (e) {
    if (isNotFound(e)) return undefined; // released or finished while we listed
    throw e;
  }
  try {
    const body = JSON.parse(decodeObject(keys, type, id, raw).toString('utf8')) as ChunkList;
    if (!Array.isArray(body.chunks)) throw new Error('no chunk list');
    return body;
  } catch (e) {
    throw new RepositoryError(
      `The ${type} object ${prefix}${id} in the repository at ${storage.location} cannot be read (${e instanceof Error ? e.message : String(e)}); delete it once no crm-backup process is running.`,
      { cause: e },
    );
  }
}
