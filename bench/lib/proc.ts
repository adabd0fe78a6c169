/**
 * Child processes with the two figures the targets need: wall time and peak resident memory.
 * Peak memory is the kernel's high-water mark (VmHWM in /proc/<pid>/status), polled while the
 * child runs: the mark only grows, so a poll every 100 ms misses at most the growth of the last
 * 100 ms before exit, and it needs neither /usr/bin/time nor a shell in between.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { trackChild } from './cleanup.js';

export interface ProcResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly seconds: number;
  /** Peak resident set size in bytes; 0 when /proc was not readable (not Linux). */
  readonly peakRssBytes: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Measured {
  readonly child: ChildProcess;
  /** The high-water mark seen so far. */
  peakRssBytes(): number;
  /** Everything written to stderr so far. */
  stderr(): string;
  readonly done: Promise<ProcResult>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called with each complete stderr line as it arrives (for live logs such as the stream's). */
  readonly onStderrLine?: (line: string) => void;
}

const POLL_MS = 100;
/** Polled this often for the first second: a process as short as `--version` (80 ms) is sampled too. */
const EARLY_POLL_MS = 5;

function readHwm(pid: number): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined; // gone between polls, or no /proc
  }
}

export function spawnMeasured(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Measured {
  const started = performance.now();
  const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let peak = 0;
  let out = '';
  let err = '';
  let partial = '';
  const poll = (): void => {
    if (child.pid !== undefined) peak = Math.max(peak, readHwm(child.pid) ?? 0);
  };
  let timer = setInterval(poll, EARLY_POLL_MS);
  const slower = setTimeout(() => {
    clearInterval(timer);
    timer = setInterval(poll, POLL_MS);
  }, 1000);
  poll();
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => {
    const text = d.toString();
    err += text;
    if (!opts.onStderrLine) return;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) opts.onStderrLine(line);
  });
  // 'exit' fires before the pipes are drained; 'close' after both, so the output is complete.
  const stop = (): void => {
    clearTimeout(slower);
    clearInterval(timer);
  };
  child.on('exit', stop);
  const done = new Promise<ProcResult>((resolve, reject) => {
    child.once('error', (e) => {
      stop();
      reject(new Error(`cannot start ${cmd}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      if (partial && opts.onStderrLine) opts.onStderrLine(partial);
      resolve({ code, signal, seconds: (performance.now() - started) / 1000, peakRssBytes: peak, stdout: out, stderr: err });
    });
  });
  return { child, peakRssBytes: () => peak, stderr: () => err, done };
}

/** Runs to completion; a non-zero exit becomes an error carrying the last stderr line. */
export async function runMeasured(cmd: string, args: readonly string[], opts: SpawnOptions = {}): Promise<ProcResult> {
  const r = await spawnMeasured(cmd, args, opts).done;
  if (r.code !== 0) throw new Error(`${describeCmd(cmd, args)} exited ${r.code ?? r.signal}: ${lastLine(r.stderr)}`);
  return r;
}

function describeCmd(cmd: string, args: readonly string[]): string {
  const name = cmd.split('/').at(-1) ?? cmd;
  // for `node --import tsx …/main.ts snapshot …` the subcommand is what tells the reader what broke
  const sub = args.find((a) => !a.startsWith('-') && !a.includes('/') && a !== 'tsx');
  return sub ? `${name} ${sub}` : name;
}

/** The last non-empty line of a log; for JSON lines, its `message` field. */
export function lastLine(text: string): string {
  const line = text.trim().split('\n').at(-1)?.trim() ?? '';
  if (!line.startsWith('{')) return line || '(no output)';
  try {
    const o = JSON.parse(line) as { message?: unknown };
    return typeof o.message === 'string' ? o.message : line;
  } catch {
    return line;
  }
}
