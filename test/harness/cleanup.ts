/**
 * Last-resort cleanup for throwaway servers: when the process exits, crashes or is
 * interrupted, every registered server is killed (whole process group) and its temp
 * folder removed, so an aborted run leaves nothing behind. Only synchronous work is
 * possible in an `exit` handler, hence kill -9 and rmSync.
 */
import { rmSync } from 'node:fs';

interface Registered {
  pid: () => number | undefined;
  dir: string;
}

const registered = new Set<Registered>();
let installed = false;

/** Kills the process group led by `pid` (servers are spawned detached, so they lead their group). */
export function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

function cleanupAllSync(): void {
  for (const r of registered) {
    const pid = r.pid();
    if (pid !== undefined) killGroup(pid, 'SIGKILL');
  }
  for (const r of registered) {
    // retries cover the moment a dying server still creates a file in its folder
    rmSync(r.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
  }
  registered.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupAllSync();
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  // if nobody else handles the signal, die from it as the default action would
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupAllSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** Registers a server for emergency cleanup; returns the function that unregisters it after a normal stop. */
export function registerForCleanup(pid: () => number | undefined, dir: string): () => void {
  install();
  const entry: Registered = { pid, dir };
  registered.add(entry);
  return () => {
    registered.delete(entry);
  };
}
