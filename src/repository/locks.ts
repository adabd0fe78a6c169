/**
 * Repository locks (`locks/<random id>`, sealed JSON). Writers and readers take shared locks, prune a
 * "prune" lock, key removal a `keys` lock. A lock is refreshed while held; one not refreshed for
 * `staleMs` belongs to a dead process and is ignored. If a refresh fails the lock's signal aborts:
 * the holder must stop rather than go on unprotected. A process that was paused (SIGSTOP, a
 * suspended VM) wakes with a lock others may have judged stale before its timer can notice:
 * `confirm` checks that before every commit and every deletion.
 *
 * Prune runs beside writers and readers (docs/FORMAT.md, "Locks"): it announces what it is about
 * to delete in a notice, and every lock holder acknowledges the notice in its lock object after
 * publishing its holds (what it wrote, reused or is about to read). This file runs the holder's
 * side: it polls for notices, publishes holds, acknowledges, and tells the chunk store which
 * chunks must not be reused until their prune is over.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { LockedError, RepositoryError, throwIfAborted } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type { RepositoryLock, StreamRef } from './repository-api.js';
import { decodeObject, encodeObject } from './codec.js';
import { randomHex, type MasterKeys } from './crypto.js';
import { chunkKey, PATHS, RANDOM_ID_LEN } from './format.js';
import { forEachLimit } from './limiter.js';
import { NoticeBoard, removeProtocolObjects, writeHolds } from './notices.js';
import { isNotFound, readObject } from './object-io.js';

/**
 * `keys` serialises key removals: it conflicts with itself, `exclusive` and `prune`, and coexists
 * with `shared`. `prune` coexists with `shared` locks of this protocol (they acknowledge its
 * notices) and is stored as `exclusive`, so that older versions keep away from it. `exclusive`
 * conflicts with everything.
 */
export type LockMode = 'shared' | 'exclusive' | 'keys' | 'prune';

/** Locks of this version carry it: the holder follows the concurrent prune protocol. */
export const LOCK_PROTOCOL = 2;

export interface StreamLockInfo {
  readonly source: string;
  readonly segmentSeconds: number;
}

export interface LockBody {
  readonly host: string;
  readonly pid: number;
  /** As stored: a prune lock is `exclusive` with `protocol` 2. */
  readonly mode: 'shared' | 'exclusive' | 'keys';
  readonly purpose?: string;
  /** Held by a running stream: its source and how often it stores a segment (restore --wait reads it). */
  readonly stream?: StreamLockInfo;
  readonly created: string;
  readonly refreshed: string;
  /** Absent in locks of older versions, which cannot run beside a prune. */
  readonly protocol?: number;
  /** Notices (prune lock ids) this holder has read, after publishing its holds. */
  readonly seen?: readonly string[];
}

export interface LockEntry {
  readonly id: string;
  /** Undefined when the object cannot be read (damaged, or sealed by another repository's key). */
  readonly body: LockBody | undefined;
  readonly modified: Date;
  readonly stale: boolean;
}

export interface LockTiming {
  readonly refreshMs: number;
  readonly staleMs: number;
  /** How often a holder looks for notices of a running prune (at most `refreshMs`). */
  readonly noticeMs: number;
}

export const DEFAULT_LOCK_TIMING: LockTiming = { refreshMs: 60_000, staleMs: 5 * 60_000, noticeMs: 10_000 };

/** What a writer holds: chunks it wrote or reused that no committed manifest of its own references yet. */
export interface HoldSource {
  readonly ids: Iterable<string>;
  /** Grows with every change, so an unchanged set is not published again. */
  readonly version: number;
}

/** The kind of lock a body describes; `legacy` is a shared lock of a version before the prune protocol. */
export function lockKind(b: LockBody): LockMode | 'legacy' {
  const current = (b.protocol ?? 1) >= LOCK_PROTOCOL;
  if (b.mode === 'exclusive') return current ? 'prune' : 'exclusive';
  if (b.mode === 'keys') return 'keys';
  return current ? 'shared' : 'legacy';
}

function conflicts(mine: LockMode, body: LockBody | undefined, afterPause: boolean): boolean {
  if (!body) return true;
  const theirs = lockKind(body);
  switch (mine) {
    // after a pause a prune may have judged this lock stale and stopped waiting for it
    case 'shared':
      return theirs === 'exclusive' || (afterPause && theirs === 'prune');
    case 'keys':
      return theirs === 'exclusive' || theirs === 'prune' || theirs === 'keys';
    case 'prune':
      return theirs !== 'shared';
    case 'exclusive':
      return true;
  }
}

export class LockManager {
  private readonly held = new Set<HeldLock>();
  readonly notices: NoticeBoard;
  private poller: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    private readonly storage: StorageBackend,
    private readonly keys: MasterKeys,
    readonly timing: LockTiming,
  ) {
    this.notices = new NoticeBoard(storage, keys);
  }

  /** How often a holder looks for notices, and a waiting prune or writer looks at the locks. */
  get noticeMs(): number {
    return Math.max(1, Math.min(this.timing.noticeMs, this.timing.refreshMs));
  }

  get pollMs(): number {
    return Math.min(1000, this.noticeMs);
  }

  async list(): Promise<LockEntry[]> {
    const out: LockEntry[] = [];
    const now = Date.now();
    for await (const o of this.storage.list(PATHS.locks)) {
      const id = o.key.slice(PATHS.locks.length);
      let body: LockBody | undefined;
      try {
        const raw = await readObject(this.storage, o.key);
        body = JSON.parse(decodeObject(this.keys, 'lock', id, raw).toString('utf8')) as LockBody;
      } catch (e) {
        if (isNotFound(e)) continue; // released while we listed
        body = undefined;
      }
      // The later of the holder's own clock and the store's: a holder whose clock runs behind the
      // pruning host's must not look stale while it still refreshes (stale only if both agree).
      const last = Math.max(body ? Date.parse(body.refreshed) || 0 : 0, o.modified.getTime());
      out.push({ id, body, modified: o.modified, stale: now - last > this.timing.staleMs });
    }
    return out;
  }

  /** Deletes stale locks with their holds and notices (prune does this); returns how many locks. */
  async removeStale(entries?: readonly LockEntry[]): Promise<number> {
    let n = 0;
    for (const l of entries ?? (await this.list())) {
      if (!l.stale || [...this.held].some((h) => h.id === l.id)) continue;
      await this.removeLock(l.id);
      n++;
    }
    return n;
  }

  async acquire(
    mode: LockMode,
    opts: { signal?: AbortSignal; purpose?: string; stream?: StreamLockInfo; holds?: HoldSource } = {},
  ): Promise<HeldLock> {
    throwIfAborted(opts.signal);
    await this.checkConflicts(mode, undefined, false);
    const id = randomHex(RANDOM_ID_LEN);
    const created = new Date().toISOString();
    let seen: readonly string[] = [];
    const body = (): LockBody => ({
      host: hostname(),
      pid: process.pid,
      mode: mode === 'prune' ? 'exclusive' : mode,
      ...(opts.purpose ? { purpose: opts.purpose } : {}),
      ...(opts.stream ? { stream: opts.stream } : {}),
      created,
      refreshed: new Date().toISOString(),
      // a plain exclusive lock keeps every version away, this one included
      ...(mode === 'exclusive' ? {} : { protocol: LOCK_PROTOCOL }),
      ...(seen.length ? { seen } : {}),
    });
    await this.write(id, body(), true);
    try {
      // Two processes may both have passed the first check; after writing, each sees the other and backs off.
      await this.checkConflicts(mode, id, false);
    } catch (e) {
      await this.storage.delete(`${PATHS.locks}${id}`).catch(() => undefined);
      throw e;
    }
    const lock: HeldLock = new HeldLock(
      id,
      mode,
      {
        refresh: () => this.refresh(id, body()),
        reconfirm: async () => {
          try {
            await this.refresh(id, body());
            // a prune that judged us stale, or writers that came in while a prune slept
            await this.checkConflicts(mode, id, true);
          } catch (e) {
            const why = e instanceof Error ? e.message : String(e);
            throw new RepositoryError(
              `This process held its ${mode} lock on the repository at ${this.storage.location} without refreshing it for ${Math.round((Date.now() - lock.refreshedAt) / 1000)} s (paused or stalled), so another process may have judged it stale: ${why.replace(/\.$/, '')}. Nothing more was written; run the command again.`,
              { cause: e },
            );
          }
        },
        drop: () => this.drop(lock),
        setSeen: (ids) => void (seen = ids),
        hold: (ids, signal) => this.holdFor(lock, ids, signal),
      },
      this.timing,
      opts.holds,
    );
    this.held.add(lock);
    this.poller ??= setInterval(() => void this.sync().catch(() => {}), this.noticeMs).unref();
    try {
      // learn of a running prune before this holder reuses or reads anything
      await this.sync();
    } catch (e) {
      await lock.release().catch(() => undefined);
      throw e;
    }
    return lock;
  }

  /** Confirms every lock this process holds (see RepositoryLock.confirm). */
  async confirmHeld(): Promise<void> {
    for (const lock of this.held) await lock.confirm();
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((l) => l.release()));
  }

  /**
   * Reads the notices of running prunes, then, in one step, makes them current and takes what
   * each held lock holds; then publishes the holds (while any notice is out, or when a reader
   * asked) and acknowledges the notices in each lock object. Everything a holder reused before
   * that step is in the holds it publishes; from that step on it knows what the prunes delete.
   */
  sync(): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.runSync().finally(() => (this.syncing = undefined));
      return this.syncing;
    }
    this.queued ??= this.syncing
      .catch(() => {})
      .then(() => {
        this.queued = undefined;
        return this.sync();
      });
    return this.queued;
  }

  private async runSync(): Promise<void> {
    if (this.held.size === 0) return;
    const apply = await this.notices.fetch();
    apply();
    const seen = this.notices.ids;
    const work = [...this.held].map((lock) => {
      if (seen.length > 0) lock.sawNotice = true;
      return { lock, holds: lock.takeHolds(seen.length > 0) };
    });
    const failures: unknown[] = [];
    await Promise.all(
      work.map(async ({ lock, holds }) => {
        try {
          if (holds) {
            await writeHolds(this.storage, this.keys, lock.id, holds.ids);
            lock.published(holds.version);
          }
          await lock.acknowledge(seen);
        } catch (e) {
          failures.push(e);
        }
      }),
    );
    if (failures.length) throw failures[0];
  }

  /** Waits until the prune that wrote notice `pruneId` is over (a stale one is removed, so it stops if it wakes). */
  async waitForPrune(pruneId: string, signal?: AbortSignal): Promise<void> {
    for (;;) {
      throwIfAborted(signal);
      const l = (await this.list()).find((e) => e.id === pruneId);
      if (!l) return;
      if (l.stale) {
        await this.removeLock(pruneId);
        return;
      }
      await sleep(this.pollMs, undefined, signal ? { signal } : {}).catch(() => throwIfAborted(signal));
    }
  }

  async removeLock(id: string): Promise<void> {
    await this.storage.delete(`${PATHS.locks}${id}`).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
    await removeProtocolObjects(this.storage, id);
  }

  /** A reader's holds: publish first, then look for prunes that may have missed them (see RepositoryLock.hold). */
  private async holdFor(lock: HeldLock, ids: readonly string[], signal?: AbortSignal): Promise<void> {
    lock.addHolds(ids);
    // publishes the holds (syncs run one at a time, so an older list cannot land after this one)
    await this.sync();
    // notices read before the holds were published: such a prune may have read the holds before
    const sawBefore = lock.sawNotice;
    // and notices published since
    await this.sync();
    const suspects = new Set<string>();
    const prunes = new Set<string>();
    for (const id of ids) {
      const prune = this.notices.condemnedBy(id);
      if (!prune) continue;
      suspects.add(id);
      prunes.add(prune);
    }
    for (const prune of prunes) await this.waitForPrune(prune, signal);
    // A prune that read the holds before ours were published and is over by now left no notice to
    // see; if this lock saw any notice before, every chunk is checked, otherwise only the announced ones.
    const check = sawBefore ? [...new Set(ids)] : [...suspects];
    const missing: string[] = [];
    await forEachLimit(check, 16, async (id) => {
      throwIfAborted(signal);
      if (!(await this.storage.stat(chunkKey(id)))) missing.push(id);
    });
    if (missing.length) {
      throw new RepositoryError(
        `${missing.length} chunks of what this process was about to read (first ${missing[0]}) were deleted by a prune running at the same time, after forget removed the snapshot or log segment they belonged to; run the command again.`,
      );
    }
  }

  private async drop(lock: HeldLock): Promise<void> {
    this.held.delete(lock);
    if (this.held.size === 0 && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
    if (lock.hasPublished) {
      await removeProtocolObjects(this.storage, lock.id).catch(() => undefined);
    }
    await this.storage.delete(`${PATHS.locks}${lock.id}`).catch((e: unknown) => {
      if (!isNotFound(e)) throw e;
    });
  }

  private async refresh(id: string, body: LockBody): Promise<void> {
    // If our lock is gone, someone judged it stale and may be pruning: we are no longer protected.
    if (!(await this.storage.stat(`${PATHS.locks}${id}`))) {
      throw new RepositoryError(
        `The lock ${id} disappeared from the repository at ${this.storage.location}; another process removed it as stale.`,
      );
    }
    await this.write(id, body, false);
  }

  private async write(id: string, body: LockBody, create: boolean): Promise<void> {
    const object = encodeObject(this.keys, 'lock', id, Buffer.from(JSON.stringify(body), 'utf8'), 3);
    await this.storage.put(`${PATHS.locks}${id}`, object, create ? { ifAbsent: true } : {});
  }

  private async checkConflicts(mode: LockMode, own: string | undefined, afterPause: boolean): Promise<void> {
    for (const l of await this.list()) {
      if (l.id === own || l.stale) continue;
      if (!conflicts(mode, l.body, afterPause)) continue;
      throw lockedError(this.storage.location, l, this.timing.staleMs, mode);
    }
  }
}

export function lockHolder(l: LockEntry): string {
  const b = l.body;
  return b
    ? `host ${b.host} pid ${b.pid}${b.purpose ? ` (${b.purpose})` : ''}`
    : `an unreadable lock ${l.id}`;
}

function lockedError(location: string, l: LockEntry, staleMs: number, mine: LockMode): LockedError {
  const b = l.body;
  const since = b ? Date.parse(b.created) : l.modified.getTime();
  const age = Math.max(0, Math.round((Date.now() - since) / 1000));
  const older =
    mine === 'prune' && b && lockKind(b) === 'legacy'
      ? ', a crm-backup older than this one that cannot run beside a prune (upgrade it)'
      : '';
  return new LockedError(
    `The repository at ${location} is locked${b ? (b.mode === 'keys' ? ' for a key change' : ` ${b.mode}`) : ''} by ${lockHolder(l)}${older} since ${age} s ago; wait for it to finish, or if that process is gone its lock is ignored once not refreshed for ${Math.round(staleMs / 1000)} s.`,
  );
}

interface LockOps {
  refresh(): Promise<void>;
  reconfirm(): Promise<void>;
  drop(): Promise<void>;
  setSeen(ids: readonly string[]): void;
  hold(ids: readonly string[], signal?: AbortSignal): Promise<void>;
}

/** A held lock: refreshes itself on a timer and aborts its signal when a refresh fails. */
export class HeldLock implements RepositoryLock {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private released = false;
  private refreshing: Promise<void> | undefined;
  /** Wall-clock time of the last write of the lock object (a suspended VM's monotonic clock stops). */
  refreshedAt = Date.now();
  /** This lock saw a prune's notice at some time (readers then check what they hold). */
  sawNotice = false;
  private seen: readonly string[] = [];
  private readonly explicit = new Set<string>();
  private explicitVersion = 0;
  private publishedVersion = -1;

  constructor(
    readonly id: string,
    readonly mode: LockMode,
    private readonly ops: LockOps,
    private readonly timing: LockTiming,
    private readonly source?: HoldSource,
  ) {
    this.timer = setInterval(() => {
      if (!this.released) this.renew().catch(() => {});
    }, timing.refreshMs);
    // A held lock must not keep a finished process alive.
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get hasPublished(): boolean {
    return this.publishedVersion >= 0;
  }

  async hold(refs: readonly StreamRef[], opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.signal.aborted) throw this.signal.reason;
    await this.ops.hold(
      refs.flatMap((r) => r.chunks),
      opts.signal,
    );
  }

  addHolds(ids: readonly string[]): void {
    for (const id of ids) this.explicit.add(id);
    this.explicitVersion++;
  }

  /**
   * What to publish, if anything: while a notice is out (or once a reader asked to hold), and only
   * when it changed since the last publication.
   */
  takeHolds(noticeOut: boolean): { ids: string[]; version: number } | undefined {
    if (!noticeOut && this.explicit.size === 0) return undefined;
    const version = this.explicitVersion + (this.source?.version ?? 0);
    if (version === this.publishedVersion) return undefined;
    return { ids: [...new Set([...this.explicit, ...(this.source?.ids ?? [])])], version };
  }

  published(version: number): void {
    this.publishedVersion = Math.max(this.publishedVersion, version);
  }

  /** Writes `seen` into the lock object unless it says so already (a paused holder re-confirms). */
  async acknowledge(seen: readonly string[]): Promise<void> {
    if (this.released || sameList(this.seen, seen)) return;
    this.seen = seen;
    this.ops.setSeen(seen);
    // a refresh under way may have written the previous list
    await this.refreshing?.catch(() => {});
    if (!this.released) await this.renew();
  }

  async confirm(): Promise<void> {
    // Half the stale age leaves the other half for clock skew between hosts: until then nobody
    // can have judged this lock stale, and confirming costs nothing.
    if (this.signal.aborted) throw this.signal.reason;
    if (!this.gap()) return;
    // a refresh under way may have started before the gap; once it is done, renew after the gap
    // re-confirms (rewrite and conflict check), which is enough however long it takes
    await this.refreshing?.catch(() => {});
    if (!this.signal.aborted && this.gap()) await this.renew();
    if (this.signal.aborted) throw this.signal.reason;
  }

  private gap(now = Date.now()): boolean {
    return now - this.refreshedAt >= this.timing.staleMs / 2;
  }

  /**
   * Rewrites the lock; after a gap past half the stale age (the process was paused, whichever of
   * the timer or a commit runs first after it) also checks for conflicts as at acquisition, since
   * another process may have judged the lock stale meanwhile. A failure aborts the signal.
   */
  private renew(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    const started = Date.now();
    const run = (this.gap(started) ? this.ops.reconfirm() : this.ops.refresh())
      .then(
        () => void (this.refreshedAt = Math.max(this.refreshedAt, started)),
        (e: unknown) => {
          this.controller.abort(e);
          clearInterval(this.timer);
          throw e;
        },
      )
      .finally(() => (this.refreshing = undefined));
    this.refreshing = run;
    return run;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    await this.refreshing?.catch(() => {});
    await this.ops.drop();
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
