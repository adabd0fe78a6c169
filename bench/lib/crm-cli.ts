/**
 * The crm-backup CLI as a child process, as an operator runs it: the benchmark measures the
 * product, process start-up and all, not library calls. By default it runs the TypeScript
 * sources through tsx (what the checkout has); `--built` runs `dist/` (after `npm run build`),
 * which starts faster and holds less memory because no compiler is loaded.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMeasured, spawnMeasured, type Measured, type ProcResult, type SpawnOptions } from './proc.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** One JSON log line of the CLI (stderr when it is not a terminal). */
export interface LogEvent {
  readonly time: string;
  readonly level: string;
  readonly event: string;
  readonly message: string;
  readonly [field: string]: unknown;
}

export class CrmCli {
  private readonly prefix: string[];
  readonly env: NodeJS.ProcessEnv;

  constructor(
    repoDir: string,
    private readonly password: string,
    private readonly built: boolean,
  ) {
    const dist = resolve(ROOT, 'dist/src/cli/bin.js');
    if (built && !existsSync(dist)) throw new Error(`--built needs ${dist}; run "npm run build" first.`);
    this.prefix = built ? [dist] : ['--import', 'tsx', resolve(ROOT, 'src/cli/bin.ts')];
    // the password travels in the environment only, never on a command line
    this.env = { ...process.env, CRM_BACKUP_REPO: repoDir, CRM_BACKUP_PASSWORD: password };
  }

  /** The same CLI on another repository (same password): a snapshot round's fresh one. */
  withRepo(repoDir: string): CrmCli {
    return new CrmCli(repoDir, this.password, this.built);
  }

  /** Runs a command with `--json` to completion; throws with the CLI's own last message on failure. */
  run(args: readonly string[]): Promise<ProcResult> {
    return runMeasured(process.execPath, [...this.prefix, '--json', ...args], { env: this.env, cwd: ROOT });
  }

  /** Starts a long-running command (stream) with `--json`. */
  spawn(args: readonly string[], opts: Pick<SpawnOptions, 'onStderrLine'> = {}): Measured {
    return spawnMeasured(process.execPath, [...this.prefix, '--json', ...args], { ...opts, env: this.env, cwd: ROOT });
  }
}

export function parseLogLine(line: string): LogEvent | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const o = JSON.parse(line) as Partial<LogEvent>;
    return typeof o.event === 'string' && typeof o.time === 'string' ? (o as LogEvent) : undefined;
  } catch {
    return undefined;
  }
}

export function logEvents(stderr: string): LogEvent[] {
  return stderr
    .split('\n')
    .map(parseLogLine)
    .filter((e): e is LogEvent => e !== undefined);
}

/** The `time` of the last event named `event`, in ms since the epoch. */
export function eventTime(events: readonly LogEvent[], event: string): number | undefined {
  const e = events.findLast((x) => x.event === event);
  return e ? Date.parse(e.time) : undefined;
}
