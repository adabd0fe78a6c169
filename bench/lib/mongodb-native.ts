/**
 * The native MongoDB baselines, on the same server and data as crm-backup, from the MongoDB
 * Database Tools (not a Debian package: https://www.mongodb.com/try/download/database-tools):
 *  - `mongodump --db SRC --archive=FILE --gzip --numParallelCollections J` (time, file bytes):
 *    one gzip archive, the form issue #13 names and the one a DBA ships off the machine;
 *  - `mongorestore --archive=FILE --gzip --numParallelCollections J --nsFrom 'SRC.*' --nsTo 'DST.*'`
 *    of that archive into a fresh database (time), with `--stopOnError` so a partial restore
 *    cannot pass for a fast one.
 * The server's URL travels in a `--config` file (mode 0600), never on a command line, where ps
 * shows its password to everyone.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dirBytes } from './du.js';
import { BENCH_PREFIX } from './mongodb.js';
import { runMeasured } from './proc.js';
import type { DumpFigures } from './results.js';

/** Why mongodump/mongorestore cannot run here, or undefined when both are on PATH. */
export function missingMongoTools(): string | undefined {
  for (const tool of ['mongodump', 'mongorestore']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} not found (install the MongoDB Database Tools)`;
    }
  }
  return undefined;
}

/** `mongodump --version`'s first line. */
export function mongoToolsVersion(): string {
  return execFileSync('mongodump', ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim() ?? '?';
}

/** Writes the tools' config file holding the server's URL (without a database); returns its path. */
export function writeToolsConfig(file: string, serverUrl: string): string {
  // a JSON string is a YAML double-quoted scalar
  writeFileSync(file, `uri: ${JSON.stringify(serverUrl)}\n`, { mode: 0o600 });
  return file;
}

/** The archive file inside the dump's folder. */
function archiveIn(dir: string): string {
  return join(dir, 'dump.archive.gz');
}

/** `mongodump` of the run's database `name` (BENCH_PREFIX + name) into one gzip archive in `dir`. */
export async function mongodump(config: string, name: string, dir: string, jobs: number): Promise<DumpFigures> {
  mkdirSync(dir, { recursive: true });
  const r = await runMeasured('mongodump', [
    `--config=${config}`, `--db=${BENCH_PREFIX}${name}`, `--archive=${archiveIn(dir)}`, '--gzip', `--numParallelCollections=${jobs}`, '--quiet',
  ]);
  return { seconds: r.seconds, bytes: dirBytes(dir) };
}

/** `mongorestore` of the archive of `from` in `dir` into the (empty) database `to`; returns its wall time. */
export async function mongorestoreLoad(config: string, dir: string, from: string, to: string, jobs: number): Promise<number> {
  const src = `${BENCH_PREFIX}${from}`;
  const r = await runMeasured('mongorestore', [
    `--config=${config}`, `--archive=${archiveIn(dir)}`, '--gzip', `--nsInclude=${src}.*`, `--nsFrom=${src}.*`, `--nsTo=${BENCH_PREFIX}${to}.*`,
    `--numParallelCollections=${jobs}`, '--stopOnError', '--quiet',
  ]);
  return r.seconds;
}
