/**
 * Repository locks (`locks/<random id>`, sealed JSON). Writers take shared locks, forget/prune an
 * exclusive one. A lock is refreshed while held; one not refreshed for `staleMs` belongs to a dead
 * process and is ignored. If a refresh fails the lock's signal aborts: the holder must stop rather
 * than go on unprotected (a prune elsewhere may already consider the lock stale). A process that
 * was paused (SIGSTOP, a suspended VM) wakes with a lock others may have judged stale before its
 * timer can notice: `confirm` checks that before every commit and every deletion.
 */
import { hostname } from 'node:os';
import { LockedError, RepositoryError, throwIfAborted } from '../util/errors.js';
import type { StorageBackend } from '../storage/storage-backend.js';
import type { RepositoryLock } from './repository-api.js';
import { decodeObject, encodeObject } from './codec.js';
import { randomHex, type MasterKeys } from './crypto.js';
import { PATHS, RANDOM_ID_LEN } from './format.js';
import { isNotFound, readObject } from './object-io.js';

/**
 * `keys` serialises key removals: it conflicts with itself and with `exclusive`, and coexists with
 * `shared` (readers of an older version see any mode but `exclusive` as shared, which it is to them).
 */
export type LockMode = 'shared' | 'exclusive' | 'keys';

export interface LockBody {
  readonly host: string;
  readonly pid: number;
  readonly mode: LockMode;
  readonly purpose?: string;
  readonly created: string;
  readonly refreshed: string;
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
}

export const DEFAULT_LOCK_TIMING: LockTiming = { refreshMs: 60_000, staleMs: 5 * 60_000 };

export class LockManager {
  private readonly held = new Set<HeldLock>();

  constructor(
    private readonly storage: StorageBackend,
    private readonly keys: MasterKeys,
    readonly timing: LockTiming,
  ) {}

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

  /** Deletes stale locks (prune does this); returns how many. */
  async removeStale(): Promise<number> {
    let n = 0;
    for (const l of await this.list()) {
      if (!l.stale || [...this.held].some((h) => h.id === l.id)) continue;
      await this.storage.delete(`${PATHS.locks}${l.id}`).catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
      n++;
    }
    return n;
  }

  async acquire(
    mode: LockMode,
    opts: { signal?: AbortSignal; purpose?: string } = {},
  ): Promise<RepositoryLock> {
    throwIfAborted(opts.signal);
    await this.checkConflicts(mode, undefined);
    const id = randomHex(RANDOM_ID_LEN);
    const created = new Date().toISOString();
    const body = (): LockBody => ({
      host: hostname(),
      pid: process.pid,
      mode,
      ...(opts.purpose ? { purpose: opts.purpose } : {}),
      created,
      refreshed: new Date().toISOString(),
    });
    await this.write(id, body(), true);
    try {
      // Two processes may both have passed the first check; after writing, each sees the other and backs off.
      await this.checkConflicts(mode, id);
    } catch (e) {
      await this.storage.delete(`${PATHS.locks}${id}`).catch(() => undefined);
      throw e;
    }
    const lock: HeldLock = new HeldLock(
      id,
      () => this.refresh(id, body()),
      async () => {
        try {
          await this.refresh(id, body());
          // a prune (exclusive) that judged us stale, or writers that came in while a prune slept
          await this.checkConflicts(mode, id);
        } catch (e) {
          const why = e instanceof Error ? e.message : String(e);
          throw new RepositoryError(
            `This process held its ${mode} lock on the repository at ${this.storage.location} without refreshing it for ${Math.round((Date.now() - lock.refreshedAt) / 1000)} s (paused or stalled), so another process may have judged it stale: ${why.replace(/\.$/, '')}. Nothing more was written; run the command again.`,
            { cause: e },
          );
        }
      },
      (): Promise<void> => this.drop(lock, id),
      this.timing,
    );
    this.held.add(lock);
    return lock;
  }

  /** Confirms every lock this process holds (see RepositoryLock.confirm). */
  async confirmHeld(): Promise<void> {
    for (const lock of this.held) await lock.confirm();
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.held].map((l) => l.release()));
  }

  private async drop(lock: HeldLock, id: string): Promise<void> {
    this.held.delete(lock);
    await this.storage.delete(`${PATHS.locks}${id}`).catch((e: unknown) => {
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

  private async checkConflicts(mode: LockMode, own: string | undefined): Promise<void> {
    for (const l of await this.list()) {
      if (l.id === own || l.stale) continue;
      if (mode === 'shared' && l.body && l.body.mode !== 'exclusive') continue;
      if (mode === 'keys' && l.body && l.body.mode === 'shared') continue;
      throw lockedError(this.storage.location, l, this.timing.staleMs);
    }
  }
}

function lockedError(location: string, l: LockEntry, staleMs: number): LockedError {
  const b = l.body;
  const since = b ? Date.parse(b.created) : l.modified.getTime();
  const age = Math.max(0, Math.round((Date.now() - since) / 1000));
  const holder = b
    ? `host ${b.host} pid ${b.pid}${b.purpose ? ` (${b.purpose})` : ''}`
    : `an unreadable lock ${l.id}`;
  return new LockedError(
    `The repository at ${location} is locked${b ? (b.mode === 'keys' ? ' for a key change' : ` ${b.mode}`) : ''} by ${holder} since ${age} s ago; wait for it to finish, or if that process is gone its lock is ignored once not refreshed for ${Math.round(staleMs / 1000)} s.`,
  );
}

/** A held lock: refreshes itself on a timer and aborts its signal when a refresh fails. */
class HeldLock implements RepositoryLock {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private released = false;
  private refreshing: Promise<void> | undefined;
  /** Wall-clock time of the last write of the lock object (a suspended VM's monotonic clock stops). */
  refreshedAt = Date.now();

  constructor(
    readonly id: string,
    private readonly refresh: () => Promise<void>,
    private readonly reconfirm: () => Promise<void>,
    private readonly drop: () => Promise<void>,
    private readonly timing: LockTiming,
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
    const run = (this.gap(started) ? this.reconfirm() : this.refresh())
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
    await this.drop();
  }
}
