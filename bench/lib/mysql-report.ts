/**
 * The figures table of bench/mysql.ts: each target with crm-backup's value, the native baseline,
 * the ratio (ours ÷ native) and a verdict, as report.ts for PostgreSQL. The snapshot and the
 * repository bytes have no target in the issue: their ratios are shown as context.
 */
import type { MyBenchResults } from './mysql-results.js';
import { checksumRow, fmtBytes, fmtRate, fmtSec, info, limitRow, NA, ratioRow, type Row } from './report.js';

const MB = 1_000_000;

/** A ratio shown for context: no target, no verdict. */
function contextRatio(metric: string, ours: number | undefined, base: number | undefined, fmt: (n: number) => string, baseName: string): Row {
  return { ...ratioRow(metric, ours, base, 1, fmt, baseName), target: NA, verdict: 'info' };
}

function floor(r: MyBenchResults): string {
  const b = r.cliBaseline;
  if (!b) return 'FAILED';
  return `${fmtSec(b.version.seconds)}, ${fmtBytes(b.version.peakRssBytes)} / ${fmtSec(b.list.seconds)}, ${fmtBytes(b.list.peakRssBytes)}`;
}

export function myFigureRows(r: MyBenchResults): Row[] {
  const mem = (name: string, b: number | undefined): Row => limitRow(`peak memory: ${name}`, b || undefined, fmtBytes, '≤ 300 MB', (n) => n <= 300 * MB);
  const s = r.stream;
  const n = r.native;
  const j = String(r.options.jobs ?? 2);
  const rounds = (r.restore?.runs?.length ?? 1) > 1 ? ` (median of ${r.restore!.runs!.length})` : '';
  const missing = n.mydumperMissing;
  const dumper = (row: Row): Row => (missing ? { ...row, baseline: `not run: ${missing}`, verdict: row.verdict === 'info' ? 'info' : 'FAIL' } : row);
  return [
    contextRatio(`snapshot --jobs ${j}, wall time`, r.snapshot?.seconds, n.dump?.seconds, fmtSec, 'mariadb-dump | zstd -3'),
    dumper(contextRatio(`snapshot --jobs ${j}, wall time`, r.snapshot?.seconds, n.mydumper?.seconds, fmtSec, `mydumper -t ${j} -c`)),
    contextRatio('repository bytes after snapshot', r.snapshot?.repoBytes, n.dump?.bytes, fmtBytes, 'zstd -3 file'),
    ratioRow(`restore --snapshot --jobs ${j}, wall time${rounds}`, r.restore?.seconds, n.restoreSeconds, 0.5, fmtSec, 'mariadb < dump.sql'),
    dumper(ratioRow(`restore --snapshot --jobs ${j}, wall time${rounds}`, r.restore?.seconds, n.myloaderSeconds, 1, fmtSec, `myloader -t ${j}`)),
    checksumRow('restore --snapshot checksums', r.restore?.checksums),
    mem('init', r.init?.peakRssBytes),
    mem('list', r.cliBaseline?.list.peakRssBytes),
    mem('snapshot', r.snapshot?.peakRssBytes),
    mem('restore --snapshot', r.restore?.peakRssBytes),
    mem('stream', s?.peakRssBytes),
    mem('restore --at', r.pitr?.peakRssBytes),
    limitRow('stream: write load achieved', s?.load?.changesPerSecond, fmtRate, '≥ 3,000/s', (x) => x >= 3000),
    limitRow('stream: max reported lag (stream.lag)', s?.maxLagSeconds, fmtSec, '< 2 s', (x) => x < 2),
    info('stream: catch-up after load end (incl. ≤ 1 s to the next second)', s?.catchUpSeconds === undefined ? 'FAILED' : fmtSec(s.catchUpSeconds)),
    info('stream: max restorable lag (RPO) under load', s?.maxRestorableLagSeconds === undefined ? NA : fmtSec(s.maxRestorableLagSeconds)),
    r.pitr && r.pitr.changesPerSecond === undefined
      ? { ...info('restore --at: replay rate', 'not measurable (replay time ≤ 0: lost in noise)'), target: '≥ 20,000/s' }
      : limitRow('restore --at: replay rate', r.pitr?.changesPerSecond, fmtRate, '≥ 20,000/s', (x) => x >= 20_000),
    checksumRow('restore --at E checksums', r.pitr?.checksums),
    info('CLI floor: --version / list (time, peak memory)', floor(r)),
    info('mariadb-dump | zstd -3 (time, file)', n.dump ? `${fmtSec(n.dump.seconds)}, ${fmtBytes(n.dump.bytes)} (${n.dumpSqlBytes === undefined ? '?' : fmtBytes(n.dumpSqlBytes)} of SQL)` : 'FAILED'),
    info(`mariadb < dump.sql (median of ${n.restoreRuns?.length ?? 0})`, n.restoreSeconds === undefined ? 'FAILED' : fmtSec(n.restoreSeconds)),
    info(`mydumper -t ${j} -c (time, folder)`, missing ? `not run: ${missing}` : n.mydumper ? `${fmtSec(n.mydumper.seconds)}, ${fmtBytes(n.mydumper.bytes)}` : 'FAILED'),
    info(`myloader -t ${j} (median of ${n.myloaderRuns?.length ?? 0})`, missing ? 'not run' : n.myloaderSeconds === undefined ? 'FAILED' : fmtSec(n.myloaderSeconds)),
    info('restore --at E, wall time', r.pitr ? fmtSec(r.pitr.seconds) : 'FAILED'),
    info('repository bytes at the end (with log)', r.repoBytesFinal === undefined ? NA : fmtBytes(r.repoBytesFinal)),
  ];
}
