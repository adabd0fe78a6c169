/**
 * The native baselines, on the same server and data as crm-backup: pg_dump -Fc (default gzip),
 * pg_dump -Fc -Z0, and pg_restore -j2 of the -Fc dump into a fresh database. The -Z0 dump runs
 * first so that it, not the compared -Fc dump, pays for whatever the page cache still lacks.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { pgBinDir } from '../../test/harness/index.js';
import { runMeasured } from './proc.js';
import { createDb, dropDb } from './pg.js';
import type { DumpFigures } from './results.js';

const bin = (name: string): string => join(pgBinDir(), name);

export async function pgDump(sourceUrl: string, file: string, extra: readonly string[]): Promise<DumpFigures> {
  const r = await runMeasured(bin('pg_dump'), ['-Fc', ...extra, '-f', file, '-d', sourceUrl]);
  return { seconds: r.seconds, bytes: statSync(file).size };
}

/**
 * Sessions that compress TOASTed values with lz4, as crm-backup's loads do on a server where no
 * method was chosen: pg_restore so set up is the like-for-like baseline of the restore.
 */
export const LZ4_TOAST_ENV = { PGOPTIONS: '-c default_toast_compression=lz4' } as const;

/** Restores `file` into a new database `db`, times it, then drops the copy (it is not judged). */
export async function pgRestore(serverUrl: string, db: string, file: string, jobs: number, env?: NodeJS.ProcessEnv): Promise<number> {
  const url = await createDb(serverUrl, db);
  try {
    // --exit-on-error: a partial restore must not pass for a fast one
    const r = await runMeasured(bin('pg_restore'), ['-j', String(jobs), '--exit-on-error', '-d', url, file], {
      env: env && { ...process.env, ...env },
    });
    return r.seconds;
  } finally {
    await dropDb(serverUrl, db);
  }
}
