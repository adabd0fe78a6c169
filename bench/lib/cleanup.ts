/**
 * Cleanup of what a benchmark run creates besides the servers (the harness removes those):
 * temp folders and child processes. A normal run removes them in `finally`; this module is the
 * safety net for Ctrl-C, SIGTERM and crashes, where only synchronous work is possible.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs = new Set<string>();
const children = new Set<ChildProcess>();
let installed = false;

function cleanupSync(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  process.stderr.write(`\nbench: ${signal}; stopping children and removing temp folders.\n`);
  cleanupSync();
  // process.exit runs the harness's own `exit` handler, which kills the servers and removes
  // their folders; 130/143 tell a calling script that the run was interrupted.
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

/** Installs the safety net once; call before starting any server so this handler runs first. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', cleanupSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/** A new temp folder, removed by `removeTempDir` or at exit whatever happens. */
export function makeTempDir(prefix: string): string {
  installCleanup();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  dirs.delete(dir);
}

/** Kills `child` at exit if it is still running then; forgets it once it exits. */
export function trackChild(child: ChildProcess): void {
  installCleanup();
  children.add(child);
  child.once('exit', () => children.delete(child));
}
