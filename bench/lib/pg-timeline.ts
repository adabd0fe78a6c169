/**
 * Where a restore's server time goes, from the PostgreSQL server log of the benchmark
 * (log_min_duration_statement, log_line_prefix '%m [%p] %d '): each statement of 100 ms or more
 * with its end time, session and database, sorted into loads (COPY), index builds, key builds
 * (primary, unique, exclusion), foreign keys (add or validate), statistics (ANALYZE) and other.
 * Consecutive statements in one database make one run (the benchmark restores each round into a
 * fresh database, pg_restore's and crm-backup's alternating), summed per kind, with the span from
 * the first statement's start to the last one's end and how long before that end the last load
 * finished: the tail in which only builds, keys and statistics were left.
 *   npx tsx bench/pg-timeline.ts <server.log>
 */

export type StatementKind = 'load' | 'index' | 'key' | 'foreign key' | 'statistics' | 'other';
export const STATEMENT_KINDS: readonly StatementKind[] = [
  'load',
  'index',
  'key',
  'foreign key',
  'statistics',
  'other',
];

export interface LoggedStatement {
  /** When it ended (ms since the epoch) and how long it ran. */
  readonly end: number;
  readonly ms: number;
  readonly pid: number;
  readonly db: string;
  readonly kind: StatementKind;
}

export interface RunSummary {
  readonly db: string;
  /** First statement's start to last statement's end, seconds. */
  readonly span: number;
  readonly sessions: number;
  /** Server seconds per kind (statements of the logged length and longer only). */
  readonly seconds: Record<StatementKind, number>;
  /** Seconds from the end of the last load to the end of the run. */
  readonly tail: number;
}

const LINE =
  /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) (\S+) \[(\d+)\] (\S*) ?LOG: {2}duration: ([\d.]+) ms {2}statement: (.*)$/;

/** The statement's kind, from its text without pg_dump's comment lines. */
export function kindOf(text: string): StatementKind {
  const sql = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('--'))
    .join(' ');
  if (/^COPY .* FROM STDIN/i.test(sql)) return 'load';
  if (/^CREATE (UNIQUE )?INDEX/i.test(sql)) return 'index';
  if (/\bFOREIGN KEY\b|\bVALIDATE CONSTRAINT\b/i.test(sql)) return 'foreign key';
  if (/\bADD CONSTRAINT \S+ (PRIMARY KEY|UNIQUE|EXCLUDE)\b/i.test(sql)) return 'key';
  if (/^ANALYZE\b/i.test(sql)) return 'statistics';
  return 'other';
}

/** The logged statements; a statement's text goes on over the lines that follow its first. */
export function parseServerLog(log: string): LoggedStatement[] {
  const out: LoggedStatement[] = [];
  let open: { end: number; ms: number; pid: number; db: string; text: string } | undefined;
  const close = (): void => {
    if (open) out.push({ end: open.end, ms: open.ms, pid: open.pid, db: open.db, kind: kindOf(open.text) });
    open = undefined;
  };
  for (const line of log.split('\n')) {
    const m = LINE.exec(line);
    if (m) {
      close();
      const [, stamp, zone, pid, db, ms, text] = m;
      // reads (the benchmark's checksums, a restore's look at a table) are not restore work
      if (/^\s*(SELECT|WITH)\b/i.test(text ?? '')) continue;
      const end = Date.parse(`${stamp?.replace(' ', 'T')}${zone === 'UTC' ? 'Z' : ''}`);
      open = { end, ms: Number(ms), pid: Number(pid), db: db ?? '', text: text ?? '' };
    } else if (open && /^\s/.test(line)) open.text += `\n${line}`;
    else close();
  }
  close();
  return out.sort((a, b) => a.end - b.end);
}

/**
 * Consecutive statements in one database, a run each, summed (the runs of databases in `only`
 * when given). Any other database's statement in between ends a run: the benchmark's two
 * `pg_restore` variants both restore into crm_native, split by its DROP and CREATE DATABASE.
 */
export function summarizeRuns(
  statements: readonly LoggedStatement[],
  only?: (db: string) => boolean,
): RunSummary[] {
  const runs: LoggedStatement[][] = [];
  for (const s of statements) {
    const last = runs[runs.length - 1];
    if (last && last[0]?.db === s.db) last.push(s);
    else runs.push([s]);
  }
  return runs
    .filter((run) => !only || only(run[0]?.db ?? ''))
    .map((run) => {
      const seconds = Object.fromEntries(STATEMENT_KINDS.map((k) => [k, 0])) as Record<StatementKind, number>;
      for (const s of run) seconds[s.kind] += s.ms / 1000;
      const start = Math.min(...run.map((s) => s.end - s.ms));
      const end = Math.max(...run.map((s) => s.end));
      const loads = run.filter((s) => s.kind === 'load').map((s) => s.end);
      return {
        db: run[0]?.db ?? '',
        span: (end - start) / 1000,
        sessions: new Set(run.map((s) => s.pid)).size,
        seconds,
        tail: loads.length ? (end - Math.max(...loads)) / 1000 : 0,
      };
    });
}

/** One line per run. */
export function formatRun(r: RunSummary): string {
  const parts = STATEMENT_KINDS.filter((k) => r.seconds[k] > 0).map(
    (k) => `${k} ${r.seconds[k].toFixed(1)} s`,
  );
  return `${r.db}: ${r.span.toFixed(1)} s from first statement to last, ${r.sessions} sessions; ${parts.join(', ')}; last load ended ${r.tail.toFixed(1)} s before the end`;
}
