/**
 * Database-neutral plumbing for the conformance suites: per-suite cleanup, a workload that runs
 * steps back to back, the `crm-backup stream` child process, and waiting on conditions.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll } from 'vitest';
import { driverFor } from '../../src/driver/registry.js';
import type { DriverModule } from '../../src/driver/driver-module.js';
import type { Repository, SegmentManifest } from '../../src/repository/repository-api.js';
import type { TestDatabase } from '../harness/index.js';
import { cliProcess } from '../helpers/cli.js';
import { TEST_PASSWORD, tempRepo, type TempRepo } from '../helpers/pitr.js';
import type { ConformanceFactory } from './factory.js';

/** Databases, repositories and child processes of one suite, all removed after its tests. */
export interface SuiteScope {
  database(label: string): Promise<TestDatabase>;
  repo(): Promise<TempRepo>;
  /** The driver the registry picks for `url`, checked to be the factory's. */
  driver(url: string): Promise<DriverModule>;
  /** Kills `child` with SIGKILL after the suite if it is still running. */
  adopt(child: ChildProcess): void;
}

export function suiteScope(factory: ConformanceFactory): SuiteScope {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });
  return {
    async database(label) {
      const d = await factory.createDatabase(label);
      cleanups.push(() => d.drop());
      return d;
    },
    async repo() {
      const r = await tempRepo();
      cleanups.push(() => r.dispose());
      return r;
    },
    async driver(url) {
      const d = await driverFor(url);
      if (d.kind !== factory.kind)
        throw new Error(
          `the registry picked driver "${d.kind}" for ${factory.name}; the factory says "${factory.kind}"`,
        );
      return d;
    },
    adopt(child) {
      cleanups.push(async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      });
    },
  };
}

/** Polls `check` until it returns a value other than undefined; fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once the repository's log for `name` is complete up to `micros`. */
export function waitRepoCovered(repo: Repository, name: string, micros: bigint): Promise<SegmentManifest[]> {
  return waitFor(`the stored log of ${name} to cover ${micros}`, async () => {
    const segs = await repo.listSegments(name);
    return segs.some((s) => BigInt(s.coveredUntilMicros) >= micros) ? segs : undefined;
  });
}

/** The greatest of `positions` in the driver's order. */
export function maxPosition(driver: DriverModule, positions: readonly string[]): string | undefined {
  return [...positions].sort(driver.comparePositions).at(-1);
}

/** Workload steps run back to back (each its own transaction) until `stop()`. */
export interface RunningWorkload {
  /** Steps committed so far. */
  readonly committed: number;
  /** Resolves once `n` steps have committed. */
  reach(n: number): Promise<void>;
  /** Stops after the step in progress; resolves with the number of the last committed step. */
  stop(): Promise<number>;
}

export function startWorkload(factory: ConformanceFactory, url: string, firstStep: number): RunningWorkload {
  let committed = 0;
  let stopped = false;
  let failure: unknown;
  const waiters: Array<{ n: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  const settle = (): void => {
    for (const w of waiters.splice(0)) {
      if (failure !== undefined) w.reject(failure);
      else if (committed >= w.n) w.resolve();
      else if (stopped) w.reject(new Error(`the workload stopped after ${committed} steps, before ${w.n}`));
      else waiters.push(w);
    }
  };
  const loop = (async () => {
    try {
      while (!stopped) {
        await factory.workloadStep(url, firstStep + committed);
        committed++;
        settle();
      }
    } catch (err) {
      failure = err;
      stopped = true;
      settle();
    }
  })();
  return {
    get committed() {
      return committed;
    },
    reach: (n) => new Promise((resolve, reject) => (waiters.push({ n, resolve, reject }), settle())),
    async stop() {
      stopped = true;
      await loop;
      settle();
      if (failure !== undefined) throw failure;
      return firstStep + committed - 1;
    },
  };
}

export interface LogLine {
  readonly level: string;
  readonly event: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

/** `crm-backup stream` as a child process, with its JSON log lines from stderr. */
export interface StreamProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly lines: readonly LogLine[];
  /** Resolves with the first line of `event`; rejects if the process exits first. */
  waitEvent(event: string, timeoutMs?: number): Promise<LogLine>;
}

export function streamProcess(repoDir: string, url: string, name: string, scope: SuiteScope): StreamProcess {
  const child = cliProcess(
    ['stream', '--repo', repoDir, '--source', url, '--name', name, '--segment-seconds', '1'],
    {
      env: { CRM_BACKUP_PASSWORD: TEST_PASSWORD },
    },
  );
  scope.adopt(child);
  const lines: LogLine[] = [];
  let partial = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    partial += d.toString();
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        // not a log line (e.g. a Node warning); kept in `stderr` for failure messages
      }
    }
    for (const l of listeners) l();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      resolve({ code, signal });
      for (const l of listeners) l();
    }),
  );
  return {
    child,
    exited,
    lines,
    waitEvent: (event, timeoutMs = 60_000) =>
      new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(
          () => done(new Error(`no "${event}" from crm-backup stream within ${timeoutMs} ms:\n${stderr}`)),
          timeoutMs,
        );
        const check = (): void => {
          const hit = lines.find((l) => l.event === event);
          if (hit) done(undefined, hit);
          else if (child.exitCode !== null || child.signalCode !== null)
            done(new Error(`crm-backup stream exited before "${event}":\n${stderr}`));
        };
        const done = (err?: Error, line?: LogLine): void => {
          clearTimeout(timer);
          listeners.delete(check);
          if (err) reject(err);
          else resolve(line!);
        };
        listeners.add(check);
        check();
      }),
  };
}
