/** Small helpers shared by the throwaway-server launchers. */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  openSync,
  closeSync,
  readFileSync,
  chownSync,
  readdirSync,
  statSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Asks the kernel for a free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Throws the one-sentence "install the package" error when `bin` is not an executable file. */
export function requireBinary(bin: string, what: string, pkg: string): void {
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    throw new Error(
      `${what} not found at ${bin}; install the Debian package "${pkg}" (apt-get install ${pkg}).`,
    );
  }
}

/** The uid/gid to run a server as: `user` when we are root (servers refuse or dislike root), else ourselves. */
export function runAs(user: string): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  const parts = line?.split(':');
  if (parts === undefined || parts.length < 4)
    throw new Error(`OS user "${user}" does not exist; create it or install its server package.`);
  return { uid: Number(parts[2]), gid: Number(parts[3]) };
}

export function chownTree(path: string, ids: { uid: number; gid: number } | undefined): void {
  if (ids === undefined) return;
  chownSync(path, ids.uid, ids.gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), ids);
}

/** Runs a command to completion, output appended to `logFile`; rejects with the log tail on failure. */
export async function runToCompletion(
  bin: string,
  args: string[],
  logFile: string,
  ids: { uid: number; gid: number } | undefined,
): Promise<void> {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], ...ids });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0)
      throw new Error(`${bin} exited with code ${String(code)}; log tail:\n${logTail(logFile)}`);
  } finally {
    closeSync(fd);
  }
}

/** Starts a long-running server in its own process group, output appended to `logFile`. */
export function spawnServer(
  bin: string,
  args: string[],
  logFile: string,
  ids: { uid: number; gid: number } | undefined,
): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: true, ...ids });
    // the server must not keep a test runner or script alive on its own
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

export function logTail(logFile: string, lines = 20): string {
  try {
    return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `probe` until it succeeds, the child exits, or `timeoutMs` passes; the error
 * names the server and carries the server log tail, which is what one needs to fix it.
 */
export async function waitReady(
  what: string,
  child: ChildProcess,
  logFile: string,
  probe: () => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${what} exited during startup (${String(child.exitCode ?? child.signalCode)}); log tail:\n${logTail(logFile)}`,
      );
    }
    try {
      await probe();
      return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? last.message : String(last);
      throw new Error(
        `${what} did not accept connections within ${timeoutMs} ms (${reason}); log tail:\n${logTail(logFile)}`,
      );
    }
    await sleep(50);
  }
}

/** Resolves when the child has exited, or after `timeoutMs` (false). */
export async function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/**
 * Polls `probe` until it returns a value other than `undefined` or `false`, and returns that; throws
 * naming `what` once `timeoutMs` has passed. Tests wait with it for the event they then assert on
 * (a row, a log line, a stored segment) instead of sleeping a time that a busy machine overruns,
 * so `timeoutMs` is only a safety net and should be generous. An error thrown by `probe` ends the
 * wait (a child that exited, say). The deadline is on the monotonic clock and the pauses are
 * `node:timers/promises`, so a test that fakes `Date` can still wait.
 */
export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined && got !== false) return got;
    if (performance.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
