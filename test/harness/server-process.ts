/**
 * The lifecycle every throwaway server shares, whatever the database: one child process that can
 * be launched, shut down cleanly (for restart), or killed with its process group and its folder.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { killGroup } from './cleanup.js';
import type { ThrowawayServer } from './server.js';
import { waitExit } from './util.js';

export class ServerProcess {
  #child: ChildProcess | undefined;

  /** `shutdown` is the signal that makes this server stop cleanly (PostgreSQL: SIGINT, fast shutdown). */
  constructor(
    private readonly shutdown: NodeJS.Signals,
    private readonly shutdownMs: number,
  ) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async launch(spawn: () => ChildProcess, ready: (child: ChildProcess) => Promise<void>): Promise<void> {
    this.#child = spawn();
    await ready(this.#child);
  }

  /** Clean shutdown (a checkpoint, so a restart needs no recovery); SIGKILL if it takes too long. */
  async halt(): Promise<void> {
    const c = this.#child;
    if (c?.pid === undefined) return;
    process.kill(c.pid, this.shutdown);
    if (!(await waitExit(c, this.shutdownMs))) killGroup(c.pid, 'SIGKILL');
    await waitExit(c, 5_000);
    this.#child = undefined;
  }

  async kill(): Promise<void> {
    const c = this.#child;
    if (c?.pid !== undefined) killGroup(c.pid, 'SIGKILL');
    if (c) await waitExit(c, 5_000);
    this.#child = undefined;
  }

  /** For a start that failed half-way: nothing may stay behind. */
  abandon(dir: string, unregister: () => void): void {
    if (this.#child?.pid !== undefined) killGroup(this.#child.pid, 'SIGKILL');
    removeFolder(dir);
    unregister();
  }
}

function removeFolder(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
}

export function runningServer(opts: {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  readonly proc: ServerProcess;
  readonly launch: () => Promise<void>;
  readonly unregister: () => void;
}): ThrowawayServer {
  const { proc } = opts;
  let stopped = false;
  return {
    url: opts.url,
    port: opts.port,
    dataDir: opts.dir,
    get pid() {
      return proc.pid;
    },
    restart: async () => {
      await proc.halt();
      await opts.launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await proc.kill();
      removeFolder(opts.dir);
      opts.unregister();
    },
  };
}
