/**
 * Step 3 on MySQL/MariaDB: `snapshot --jobs J` and `restore --snapshot ID --jobs J` into a fresh
 * database, timed with peak memory, the repository measured on disk, the restore judged by
 * per-table checksums; then rounds 2..N of the native restores and ours, alternating.
 */
import { rmSync } from 'node:fs';
import { mysqlTableChecksums, type TableChecksum } from '../../scripts/crm/index.js';
import { eventTime, logEvents } from './crm-cli.js';
import { dirBytes } from './du.js';
import { myCreateDb, myDropDb, TICK_TABLE } from './mysql.js';
import { mariadbRestore, myloaderRestore } from './mysql-native.js';
import type { MyBenchContext } from './mysql-results.js';
import { compareChecksums } from './pg.js';
import { fmtBytes } from './report.js';
import { say } from './steps.js';

/** Per-table checksums of the CRM tables, the bench's tick table left out. */
export function crmChecksums(url: string): Promise<Record<string, TableChecksum>> {
  return mysqlTableChecksums(url, { exclude: [TICK_TABLE] });
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Returns the snapshot id, or undefined when the snapshot failed. */
export async function mySnapshotPhase(ctx: MyBenchContext): Promise<string | undefined> {
  const { cli, steps, results, opts } = ctx;
  return steps.run('snapshot', `crm-backup snapshot --jobs ${opts.jobs}`, async () => {
    const bytesBefore = dirBytes(ctx.repoDir);
    const r = await cli.run(['snapshot', '--source', ctx.source, '--jobs', String(opts.jobs)]);
    const out = JSON.parse(r.stdout) as { id: string; tables: number; rows: number };
    // the stream has been storing (empty) segments meanwhile: counted, they are part of the repository
    const repoBytes = dirBytes(ctx.repoDir);
    results.snapshot = { id: out.id, seconds: r.seconds, peakRssBytes: r.peakRssBytes, repoBytes, tables: out.tables, rows: out.rows };
    say(
      `   snapshot ${out.id.slice(0, 12)}: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}, ` +
        `repository ${fmtBytes(repoBytes)} (${fmtBytes(repoBytes - bytesBefore)} added by the snapshot)`,
    );
    return out.id;
  });
}

export async function myRestorePhase(ctx: MyBenchContext, snapshotId: string): Promise<void> {
  const { cli, steps, results, opts } = ctx;
  await steps.run('restore', `crm-backup restore --snapshot --jobs ${opts.jobs} into a fresh database, then checksums`, async () => {
    const db = 'crm_restore_snapshot';
    const target = await myCreateDb(ctx.serverUrl, db);
    try {
      const r = await cli.run(['restore', '--target', target, '--snapshot', snapshotId, '--jobs', String(opts.jobs)]);
      const summary = JSON.parse(r.stdout) as { seconds?: number };
      const events = logEvents(r.stderr);
      const loaded = eventTime(events, 'restore.loaded');
      const done = eventTime(events, 'restore.done');
      // post-data (indexes, keys) and finish: the part a PITR restore shares with this one
      if (loaded !== undefined && done !== undefined) ctx.snapshotRestoreTail = (done - loaded) / 1000;
      results.restore = { seconds: r.seconds, peakRssBytes: r.peakRssBytes, summarySeconds: summary.seconds };
      say(`   restore: ${r.seconds.toFixed(1)} s, peak ${fmtBytes(r.peakRssBytes)}; comparing checksums`);
      if (!ctx.sourceBefore) throw new Error('no source checksums to compare with (that step failed)');
      const checksums = compareChecksums(ctx.sourceBefore, await crmChecksums(target));
      results.restore.checksums = checksums;
      say(`   checksums: ${checksums.equal ? `equal (${checksums.tables} tables)` : `DIFFERENT — ${checksums.differing.join(', ')}`}`);
    } finally {
      await myDropDb(ctx.serverUrl, db);
    }
  });
  await myRestoreRounds(ctx, results.restore ? snapshotId : undefined);
}

/**
 * Rounds 2..N: `mariadb < dump.sql`, `myloader` and crm-backup restore alternately, each into a
 * fresh database, so that page flushing, the binlog and the page cache fall on all alike; the
 * figures become medians. Without a snapshot (its step failed) the native rounds still run, so
 * their figures stand on their own.
 */
export async function myRestoreRounds(ctx: MyBenchContext, snapshotId: string | undefined): Promise<void> {
  const { cli, steps, results, opts } = ctx;
  const sql = ctx.nativeSql;
  const dir = ctx.nativeMydumperDir;
  try {
    if (opts.restoreRounds < 2) return;
    const first = snapshotId === undefined ? undefined : results.restore;
    const ours = first ? [first.seconds] : [];
    let peak = first?.peakRssBytes ?? 0;
    const native = sql ? results.native.restoreRuns : undefined;
    const loader = dir ? results.native.myloaderRuns : undefined;
    if (!first && !native && !loader) return;
    await steps.run('restore rounds', `${opts.restoreRounds - 1} more rounds of mariadb < dump.sql / myloader / crm-backup restore, alternating`, async () => {
      for (let round = 2; round <= opts.restoreRounds; round++) {
        if (sql && native) native.push(await mariadbRestore(ctx.serverUrl, 'crm_native', sql));
        if (dir && loader) loader.push(await myloaderRestore(ctx.serverUrl, 'crm_native', dir, opts.jobs));
        if (first && snapshotId !== undefined) {
          const db = 'crm_restore_snapshot';
          const target = await myCreateDb(ctx.serverUrl, db);
          try {
            const r = await cli.run(['restore', '--target', target, '--snapshot', snapshotId, '--jobs', String(opts.jobs)]);
            ours.push(r.seconds);
            peak = Math.max(peak, r.peakRssBytes);
          } finally {
            await myDropDb(ctx.serverUrl, db);
          }
        }
        const fmt = (x: number | undefined): string => (x === undefined ? '—' : `${x.toFixed(1)} s`);
        say(`   round ${round}: mariadb ${fmt(native?.at(-1))}, myloader ${fmt(loader?.at(-1))}, crm-backup ${fmt(first ? ours.at(-1) : undefined)}`);
      }
    });
    if (native) results.native.restoreSeconds = median(native);
    if (loader) results.native.myloaderSeconds = median(loader);
    if (first) results.restore = { ...first, runs: ours, seconds: median(ours), peakRssBytes: peak };
    const med = (xs: readonly number[] | undefined): string => (xs?.length ? `${median(xs).toFixed(1)} s` : '—');
    say(`   medians of ${opts.restoreRounds}: mariadb ${med(native)}, myloader ${med(loader)}, crm-backup ${med(first ? ours : undefined)}`);
  } finally {
    releaseNativeFiles(ctx);
  }
}

/** The native dumps are kept for the paired rounds only: a 1 GB run need not keep them to the end. */
export function releaseNativeFiles(ctx: MyBenchContext): void {
  if (ctx.nativeSql) rmSync(ctx.nativeSql, { force: true });
  if (ctx.nativeMydumperDir) rmSync(ctx.nativeMydumperDir, { recursive: true, force: true });
  ctx.nativeSql = undefined;
  ctx.nativeMydumperDir = undefined;
}
