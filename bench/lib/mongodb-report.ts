/**
 * bench/mongodb.ts's table: the targets of issue #13 — snapshot ≤ 1.0× `mongodump --archive --gzip`, bytes
 * ≤ 1.0× its archive file, restore ≤ 1.0× `mongorestore` with the same parallelism — then the rows every
 * database benchmark has (figureTable: peak memory ≤ 300 MB, the stream, restore --at). Without
 * the Database Tools the three comparisons say NOT RUN and why, and the rest stands.
 */
import { figureTable, fmtBytes, fmtSec, info, ratioRow, roundsNote, type Row } from './report.js';
import type { MongoBenchResults } from './results.js';

export function mongoFigureRows(r: MongoBenchResults): Row[] {
  const n = r.native;
  const j = String(r.options.jobs ?? 2);
  const missing = n.toolsMissing;
  const tool = (row: Row): Row => (missing ? { ...row, baseline: `not run: ${missing}`, ratio: '—', verdict: 'NOT RUN' } : row);
  const dump = `mongodump --archive --gzip -j ${j}`;
  return figureTable(r, {
    comparisons: [
      tool(ratioRow(`snapshot --jobs ${j}, wall time`, r.snapshot?.seconds, n.dump?.seconds, 1, fmtSec, dump)),
      tool(ratioRow('repository bytes after snapshot', r.snapshot?.repoBytes, n.dump?.bytes, 1, fmtBytes, `${dump} file`)),
      tool(ratioRow(`restore --snapshot --jobs ${j}, wall time${roundsNote(r)}`, r.restore?.seconds, n.restoreSeconds, 1, fmtSec, `mongorestore --archive --gzip -j ${j}`)),
    ],
    memoryFirst: [
      ['init', r.init?.peakRssBytes],
      ['list', r.cliBaseline?.list.peakRssBytes],
    ],
    catchUp: 'stream: catch-up after load end (incl. ≤ 1 ms to the next millisecond)',
    natives: [
      info(`${dump} (time, file)`, missing ? `not run: ${missing}` : n.dump ? `${fmtSec(n.dump.seconds)}, ${fmtBytes(n.dump.bytes)}` : 'FAILED'),
      info(`mongorestore --archive --gzip -j ${j} (median of ${n.restoreRuns?.length ?? 0})`, missing ? 'not run' : n.restoreSeconds === undefined ? 'FAILED' : fmtSec(n.restoreSeconds)),
      info('database (BSON documents / on disk / indexes)', r.seed ? `${fmtBytes(r.seed.size.data)} / ${fmtBytes(r.seed.size.storage)} / ${fmtBytes(r.seed.size.indexes)}` : 'FAILED'),
    ],
  });
}
