/**
 * The native MySQL/MariaDB baselines, on the same server and data as crm-backup:
 *  - `mariadb-dump --single-transaction | zstd -3` to one file (time, file bytes), and its
 *    restore `mariadb DB < dump.sql` into a fresh database (the file decompressed beforehand,
 *    untimed, so the figure is the client's alone);
 *  - `mydumper -t N -c` to a folder of gzip files (time, folder bytes) and `myloader -t N` of it.
 * Each runs as a child process, as an operator runs it; the shell is used only for the pipe and
 * the redirection, with every argument quoted.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirBytes } from './du.js';
import { myCreateDb, myDropDb, nativeConn } from './mysql.js';
import { runMeasured } from './proc.js';
import type { DumpFigures } from './results.js';

const sh = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const cmdLine = (argv: readonly string[]): string => argv.map(sh).join(' ');

function bash(script: string, env: NodeJS.ProcessEnv): ReturnType<typeof runMeasured> {
  // pipefail: a dump that dies half-way must fail the step, not leave a short file behind zstd's exit 0
  return runMeasured('bash', ['-o', 'pipefail', '-c', script], { env });
}

/** Why `tool` cannot run here (not installed), or undefined when it can. */
export function missingTool(tool: string): string | undefined {
  try {
    execFileSync('sh', ['-c', `command -v ${sh(tool)}`], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${tool} is not installed (Debian: apt-get install -y ${tool === 'myloader' ? 'mydumper' : tool})`;
  }
}

const dbOf = (url: string): string => decodeURIComponent(new URL(url).pathname.slice(1));

/** `mariadb-dump --single-transaction DB | zstd -3 > file` of the database of `sourceUrl`. */
export async function mariadbDumpZstd(sourceUrl: string, file: string): Promise<DumpFigures> {
  const c = nativeConn(sourceUrl);
  const dump = cmdLine(['mariadb-dump', '--no-defaults', ...c.args, '--single-transaction', dbOf(sourceUrl)]);
  const r = await bash(`${dump} | zstd -3 -q -f -o ${sh(file)}`, c.env);
  return { seconds: r.seconds, bytes: statSync(file).size };
}

/** Decompresses the zstd dump for the restore (not timed: it is not the client's work); returns its bytes. */
export async function unzstd(file: string, out: string): Promise<number> {
  await runMeasured('zstd', ['-d', '-q', '-f', '-o', out, file]);
  return statSync(out).size;
}

/** `mariadb DB < dump.sql` into the existing database of `targetUrl`; returns its wall time. */
export async function mariadbLoad(targetUrl: string, sqlFile: string): Promise<number> {
  const c = nativeConn(targetUrl);
  const r = await bash(`${cmdLine(['mariadb', '--no-defaults', ...c.args, dbOf(targetUrl)])} < ${sh(sqlFile)}`, c.env);
  return r.seconds;
}

/** Times `mariadb DB < dump.sql` into a new database `db`, then drops the copy (it is not judged). */
export async function mariadbRestore(serverUrl: string, db: string, sqlFile: string): Promise<number> {
  const url = await myCreateDb(serverUrl, db);
  try {
    return await mariadbLoad(url, sqlFile);
  } finally {
    await myDropDb(serverUrl, db);
  }
}

/** `mydumper -t N -c` of the database of `sourceUrl` into the folder `dir` (gzip files, one or more per table). */
export async function mydumperDump(sourceUrl: string, dir: string, threads: number): Promise<DumpFigures> {
  const c = nativeConn(sourceUrl);
  const r = await runMeasured('mydumper', [...c.args, '-B', dbOf(sourceUrl), '-o', dir, '-t', String(threads), '-c'], { env: c.env });
  return { seconds: r.seconds, bytes: dirBytes(dir) };
}

/** `myloader -t N` of a mydumper folder into the (empty) database of `targetUrl`; returns its wall time. */
export async function myloaderLoad(targetUrl: string, dir: string, threads: number): Promise<number> {
  const c = nativeConn(targetUrl);
  const r = await runMeasured('myloader', [...c.args, '-B', dbOf(targetUrl), '-d', dir, '-t', String(threads)], { env: c.env });
  return r.seconds;
}

/** Times `myloader -t N` of a mydumper folder into a new database `db`, then drops the copy. */
export async function myloaderRestore(serverUrl: string, db: string, dir: string, threads: number): Promise<number> {
  const url = await myCreateDb(serverUrl, db);
  try {
    return await myloaderLoad(url, dir, threads);
  } finally {
    await myDropDb(serverUrl, db);
  }
}
