/**
 * The stored change log as a DBA reads it (`crm-backup log`): transactions in commit order, each
 * with the reference its driver gives it, its commit time and its changes per table; one
 * transaction's row changes (`log --show`); and the transaction a reference names, for
 * `restore --before/--through`. No database is needed: everything comes from the repository.
 *
 * It stays fast on a long log by not reading what cannot match: a segment whose commit times are
 * all outside `--from/--to`, that touches none of `--tables`, or holds fewer changes than
 * `--min-changes` is skipped on its manifest alone. Payloads are decoded by the driver, one part
 * at a time; the parts of a large transaction (same position, `more` on all but the last) are
 * merged into one entry.
 */
import { assertReadable } from '../driver/guard.js';
import type { DriverModule } from '../driver/driver-module.js';
import { driverOfSource } from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import type { Position, Transaction } from '../driver/source-driver.js';
import type { PartSummary, RowChange, TableChangeCounts, TransactionReader } from '../driver/transactions.js';
import type { Repository, SegmentManifest } from '../repository/repository-api.js';
import { decodeSegment } from '../repository/segment-codec.js';
import { RestoreRefusedError, throwIfAborted, UsageError } from '../util/errors.js';
import { formatMicros } from '../util/time.js';
import type { RestoreTarget } from './plan.js';
import type { TransactionStop } from './plan-ref.js';
import { walkChain } from './chain.js';
import { pickSource } from './sources.js';
import { restoreWindows } from './windows.js';
import { tableMatcher } from './tables.js';

/**
 * Commit times of concurrent transactions can be out of log order by a little (the time is taken
 * before the commit record is written); a segment whose FIRST commit is this much after `--to` is
 * taken to hold nothing before `--to`. The last commit of a segment is known exactly (its
 * coverage), so `--from` needs no margin.
 */
const OUT_OF_ORDER_MARGIN_MICROS = 1_000_000n;

/** One stored transaction, all its parts merged. */
export interface TransactionEntry {
  /** The driver's reference, what `log` prints and `--show`, `--before`, `--through` read. */
  readonly ref: string;
  readonly position: Position;
  readonly commitMicros: bigint;
  /** The commit time at the source's resolution, ISO 8601 UTC. */
  readonly commitTime: string;
  readonly tables: readonly TableChangeCounts[];
  /** Row changes in all parts. */
  readonly changes: number;
  readonly statements: readonly string[];
  readonly internal: boolean;
  readonly parts: number;
}

/** The log of one source: its driver (with a transaction reader) and its segments in position order. */
export interface SourceLog {
  readonly source: string;
  readonly driver: DriverModule;
  readonly reader: TransactionReader;
  readonly segments: readonly SegmentManifest[];
}

export interface LogQuery {
  /** Commit times from this instant on (µs, inclusive). */
  readonly fromMicros?: bigint;
  /** Commit times up to this instant (µs, inclusive). */
  readonly toMicros?: bigint;
  /** Only transactions touching one of these tables, as the user typed them. */
  readonly tables?: readonly string[];
  /** Only transactions with at least this many row changes. */
  readonly minChanges?: number;
  /** Also crm-backup's own transactions (idle markers, sequence records). */
  readonly all?: boolean;
  readonly signal?: AbortSignal;
}

/** What a listing read, for the user and for measurements. */
export interface LogStats {
  segments: number;
  segmentsRead: number;
  bytesRead: number;
  transactionsRead: number;
}

export const newLogStats = (): LogStats => ({
  segments: 0,
  segmentsRead: 0,
  bytesRead: 0,
  transactionsRead: 0,
});

/** The reader of a driver, or one sentence saying this driver cannot show its log. */
export function transactionReader(driver: DriverModule): TransactionReader {
  if (!driver.transactions)
    throw new UsageError(`The ${driver.kind} driver of this build cannot show the transactions it stored.`);
  return driver.transactions;
}

/** The source named `name` (or the only one), its driver and its segments in position order. */
export async function openSourceLog(
  repo: Repository,
  name: string | undefined,
  drivers: Drivers = registry,
): Promise<SourceLog> {
  const source = await pickSource(repo, name);
  return sourceLog(repo, source, drivers);
}

async function sourceLog(repo: Repository, source: string, drivers: Drivers): Promise<SourceLog> {
  const segments = await repo.listSegments(source);
  const driver = await driverOfSource([...segments, ...(await repo.listSnapshots({ source }))], drivers);
  if (!driver || segments.length === 0)
    throw new UsageError(
      `The repository holds no change log of ${source}; run "crm-backup stream" to capture one.`,
    );
  return logOf(source, driver, segments);
}

function logOf(source: string, driver: DriverModule, segments: readonly SegmentManifest[]): SourceLog {
  const reader = transactionReader(driver);
  const compare = driver.comparePositions;
  const sorted = [...segments].sort(
    (a, b) => compare(a.lastPosition, b.lastPosition) || compare(a.fromPosition, b.fromPosition),
  );
  return { source, driver, reader, segments: sorted };
}

/**
 * For `restore --before/--through REF`: the stored transaction REF names, as the place the replay
 * stops; undefined for any other target. Refuses, one sentence, a reference not in the log.
 */
export async function locateStop(
  repo: Repository,
  of: {
    readonly source: string;
    readonly driver: DriverModule;
    readonly segments: readonly SegmentManifest[];
  },
  target: RestoreTarget,
  signal?: AbortSignal,
  drivers: Drivers = registry,
): Promise<TransactionStop | undefined> {
  if (target.kind !== 'before' && target.kind !== 'through') return undefined;
  const log = logOf(of.source, of.driver, of.segments);
  const { entry } = await resolveReference(repo, log, target.ref, (m) => new RestoreRefusedError(m), {
    signal,
    drivers,
  });
  return { kind: target.kind, ref: entry.ref, position: entry.position, commitTime: entry.commitTime };
}

/** The commit time at the source's resolution: `…:59Z` for seconds, `…:59.123Z`, `…:59.123456Z`. */
export function formatCommitTime(reader: TransactionReader, micros: bigint): string {
  const full = formatMicros(micros); // 2026-11-21T14:02:59.123456Z
  if (reader.commitTimeResolution === 'second') return `${full.slice(0, 19)}Z`;
  if (reader.commitTimeResolution === 'millisecond') return `${full.slice(0, 23)}Z`;
  return full;
}

/** Folds the summaries of one transaction's parts into one entry. */
class Accumulator {
  private readonly counts = new Map<
    string,
    { inserts: number; updates: number; deletes: number; truncates: number }
  >();
  private readonly statements: string[] = [];
  private ref = '';
  private internal = true;
  private parts = 0;
  changes = 0;

  constructor(
    readonly position: Position,
    readonly commitMicros: bigint,
  ) {}

  add(summary: PartSummary, changes: number): void {
    if (this.parts++ === 0) this.ref = summary.ref;
    this.changes += changes;
    this.internal &&= summary.internal;
    this.statements.push(...summary.statements);
    for (const t of summary.tables) {
      const c = this.counts.get(t.table);
      if (!c)
        this.counts.set(t.table, {
          inserts: t.inserts,
          updates: t.updates,
          deletes: t.deletes,
          truncates: t.truncates,
        });
      else {
        c.inserts += t.inserts;
        c.updates += t.updates;
        c.deletes += t.deletes;
        c.truncates += t.truncates;
      }
    }
  }

  entry(reader: TransactionReader): TransactionEntry {
    return {
      ref: this.ref,
      position: this.position,
      commitMicros: this.commitMicros,
      commitTime: formatCommitTime(reader, this.commitMicros),
      tables: [...this.counts].map(([table, c]) => ({ table, ...c })),
      changes: this.changes,
      statements: this.statements,
      internal: this.internal,
      parts: this.parts,
    };
  }
}

function readSegment(
  repo: Repository,
  driver: DriverModule,
  seg: SegmentManifest,
  signal: AbortSignal | undefined,
  stats?: LogStats,
): AsyncGenerator<Transaction> {
  const what = `Log segment ${seg.id.slice(0, 12)}`;
  assertReadable(driver, seg, what);
  if (stats) {
    stats.segmentsRead++;
    stats.bytesRead += seg.data.bytes;
  }
  return decodeSegment(
    repo.readStream(seg.data, { signal, context: `log segment ${seg.id.slice(0, 12)}` }),
    `log segment ${seg.id.slice(0, 12)}`,
  );
}

/** The stored transactions of `log` matching `query`, in position (commit) order. */
export async function* listTransactions(
  repo: Repository,
  log: SourceLog,
  query: LogQuery = {},
  stats: LogStats = newLogStats(),
): AsyncGenerator<TransactionEntry> {
  const { driver, reader } = log;
  const compare = driver.comparePositions;
  const matches = tableMatcher(driver, query.tables);
  const from = query.fromMicros;
  const to = query.toMicros;
  const minChanges = query.minChanges ?? 0;
  const inTime = (micros: bigint): boolean =>
    (from === undefined || micros >= from) && (to === undefined || micros <= to);
  // Positions only move forward: a transaction stored twice (a stream restarted after a crash) is listed once.
  let seen: Position | undefined;
  stats.segments += log.segments.length;
  for (const seg of log.segments) {
    throwIfAborted(query.signal);
    if (seg.transactions === 0) continue;
    const newest = BigInt(seg.coveredUntilMicros) + 1n;
    if (from !== undefined && BigInt(seg.coveredUntilMicros) >= 0n && newest < from) continue;
    if (to !== undefined && BigInt(seg.firstCommitMicros) > to + OUT_OF_ORDER_MARGIN_MICROS) continue;
    if (matches && !seg.tables.some(matches)) continue;
    if (seg.changes < minChanges) continue;
    let open: Accumulator | undefined;
    let wanted = false;
    let duplicate = false;
    for await (const tx of readSegment(repo, driver, seg, query.signal, stats)) {
      if (!open) {
        open = new Accumulator(tx.position, tx.commitTime);
        duplicate = seen !== undefined && compare(tx.position, seen) <= 0;
        // a single part is judged on what the segment framing stores, before it is decoded
        wanted =
          !duplicate &&
          (tx.more === true ||
            (inTime(tx.commitTime) &&
              tx.changes >= minChanges &&
              (!matches || (tx.tables ?? []).some(matches))));
      }
      if (wanted) open.add(reader.summarize(tx), tx.changes);
      if (tx.more) continue;
      const done = open;
      open = undefined;
      if (duplicate) continue;
      seen = done.position;
      stats.transactionsRead++;
      if (!wanted) continue;
      const entry = done.entry(reader);
      if (entry.internal && !query.all) continue;
      if (!inTime(entry.commitMicros) || entry.changes < minChanges) continue;
      if (matches && !entry.tables.some((t) => matches(t.table))) continue;
      yield entry;
    }
  }
}

/** A transaction a reference names, where it is stored. */
export interface LocatedTransaction {
  readonly entry: TransactionEntry;
  readonly segment: SegmentManifest;
}

/**
 * The stored transaction `ref` names in `log`, or undefined. Only the segments whose position
 * range holds the reference's position are read; the transaction found there must carry the
 * same reference (a reference of another source can share a position with nothing, or with
 * another transaction of this one).
 */
export async function locateTransaction(
  repo: Repository,
  log: SourceLog,
  ref: { readonly position: Position; readonly ref: string },
  signal?: AbortSignal,
): Promise<LocatedTransaction | undefined> {
  const compare = log.driver.comparePositions;
  for (const seg of log.segments) {
    if (seg.transactions === 0) continue;
    if (compare(seg.fromPosition, ref.position) >= 0 || compare(seg.lastPosition, ref.position) < 0) continue;
    let open: Accumulator | undefined;
    for await (const tx of readSegment(repo, log.driver, seg, signal)) {
      const cmp = compare(tx.position, ref.position);
      if (cmp > 0) break;
      if (cmp < 0) continue;
      open ??= new Accumulator(tx.position, tx.commitTime);
      open.add(log.reader.summarize(tx), tx.changes);
      if (tx.more) continue;
      const entry = open.entry(log.reader);
      if (entry.ref === ref.ref) return { entry, segment: seg };
      break;
    }
  }
  return undefined;
}

/**
 * The transaction `text` names in the log of `log.source`; when it is not there, one sentence
 * that says so, naming the other source of the repository whose log holds it, if one does.
 * `refuse` makes the error of the calling command (a refused restore, a usage error).
 */
export async function resolveReference(
  repo: Repository,
  log: SourceLog,
  text: string,
  refuse: (message: string) => Error,
  opts: { signal?: AbortSignal; drivers?: Drivers } = {},
): Promise<LocatedTransaction> {
  const parsed = log.reader.parseReference(text);
  const found = await locateTransaction(repo, log, parsed, opts.signal);
  if (found) return found;
  for (const other of await repo.sources()) {
    if (other === log.source) continue;
    const otherLog = await sourceLog(repo, other, opts.drivers ?? registry).catch(() => undefined);
    if (!otherLog || otherLog.driver.kind !== log.driver.kind) continue;
    if (await locateTransaction(repo, otherLog, parsed, opts.signal)) {
      throw refuse(
        `Transaction ${parsed.ref} is in the stored log of source ${other}, not of ${log.source}; pass --name ${other}.`,
      );
    }
  }
  throw refuse(
    `Transaction ${parsed.ref} is not in the stored log of ${log.source}; "crm-backup log" lists the transactions it holds.`,
  );
}

/** The row changes of a located transaction, in log order (all its parts). */
export async function* transactionChanges(
  repo: Repository,
  log: SourceLog,
  located: LocatedTransaction,
  signal?: AbortSignal,
): AsyncGenerator<RowChange> {
  const compare = log.driver.comparePositions;
  for await (const tx of readSegment(repo, log.driver, located.segment, signal)) {
    const cmp = compare(tx.position, located.entry.position);
    if (cmp > 0) return;
    if (cmp < 0) continue;
    yield* log.reader.changes(tx);
    if (!tx.more) return;
  }
}

/** A transaction as `list` names it. */
export interface NamedTransaction {
  readonly ref: string;
  readonly commitTime: string;
}

/**
 * For each restorable window of `list` (same order as `restoreWindows`): the first transaction
 * after the window's oldest snapshot (`--before` it gives that snapshot) and the newest one its
 * log holds (`--through` it is the latest exact state). Reads two segments per window; empty
 * when the driver cannot show its transactions.
 */
export async function windowTransactions(
  repo: Repository,
  source: string,
  drivers: Drivers = registry,
): Promise<Array<{ first?: NamedTransaction; last?: NamedTransaction }>> {
  const snapshots = await repo.listSnapshots({ source });
  const segments = await repo.listSegments(source);
  const driver = await driverOfSource([...snapshots, ...segments], drivers);
  if (!driver?.transactions) return [];
  const log = logOf(source, driver, segments);
  const compare = driver.comparePositions;
  const out: Array<{ first?: NamedTransaction; last?: NamedTransaction }> = [];
  for (const w of restoreWindows(snapshots, segments, compare)) {
    const inWindow = snapshots
      .filter((s) => {
        const at = BigInt(s.consistentAtMicros);
        return at >= w.fromMicros && at <= w.toMicros;
      })
      .sort((a, b) => cmpBig(BigInt(a.consistentAtMicros), BigInt(b.consistentAtMicros)));
    const oldest = inWindow[0];
    if (!oldest) {
      out.push({});
      continue;
    }
    const chains = inWindow.map((s) => walkChain(s, segments, compare));
    const longest = chains.reduce((a, b) => (compare(b.reached, a.reached) > 0 ? b : a));
    out.push({
      first: await firstAfter(repo, log, chains[0]!.segments, oldest.position),
      last: await newest(repo, log, longest.segments),
    });
  }
  return out;
}

const named = (e: TransactionEntry): NamedTransaction => ({ ref: e.ref, commitTime: e.commitTime });

async function firstAfter(
  repo: Repository,
  log: SourceLog,
  chain: readonly SegmentManifest[],
  after: Position,
): Promise<NamedTransaction | undefined> {
  for (const seg of chain) {
    for await (const e of listTransactions(repo, { ...log, segments: [seg] })) {
      if (log.driver.comparePositions(e.position, after) > 0) return named(e);
    }
  }
  return undefined;
}

async function newest(
  repo: Repository,
  log: SourceLog,
  chain: readonly SegmentManifest[],
): Promise<NamedTransaction | undefined> {
  for (const seg of [...chain].reverse()) {
    let last: TransactionEntry | undefined;
    for await (const e of listTransactions(repo, { ...log, segments: [seg] })) last = e;
    if (last) return named(last);
  }
  return undefined;
}

function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
