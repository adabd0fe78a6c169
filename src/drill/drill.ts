/**
 * `crm-backup drill`: proves that a backup restores. Creates a scratch database on the given
 * server, restores into it through the one restore engine (the newest snapshot, a chosen one, or
 * an instant of the restorable window), compares the restored tables with the checksums the
 * snapshot stored while it was taken, records the outcome in the repository and drops the
 * scratch database (unless kept), also when the drill fails or is interrupted.
 *
 * A drill that ran and found the backup wanting (a damaged chunk, a table that does not match its
 * checksum) is a verdict, recorded and returned; a drill that could not run (server down, bad
 * option) throws, and records nothing: it says nothing about the backup.
 */
import type { DriverModule } from '../driver/driver-module.js';
import { driverOfSource } from '../driver/position-order.js';
import { registry, type Drivers } from '../driver/registry.js';
import { scratchName } from '../driver/scratch.js';
import type { DrillRecord, Repository } from '../repository/repository-api.js';
import { isPartialSnapshot } from '../repository/retention.js';
import { restore, type RestoreSummary, type RestoreTarget } from '../restore/restore.js';
import { pickSource } from '../restore/sources.js';
import { restoreWindows } from '../restore/windows.js';
import { IntegrityError, UsageError } from '../util/errors.js';
import { formatDuration, type Logger } from '../util/log.js';
import { redactUrl } from '../util/redact.js';
import { formatMicros } from '../util/time.js';
import { checksumsOf, compareTables, expectedChecksums, mismatchSentence } from './compare.js';

export interface DrillOptions {
  readonly repo: Repository;
  /** The server to drill on: a scratch database is created there (or `useDatabase`). */
  readonly targetUrl: string;
  /** The source inside the repository; default: its only source. */
  readonly source?: string;
  /** Restore this snapshot (an id prefix is enough); default the newest. */
  readonly snapshot?: string;
  /** Restore to this instant (µs), or `random`: an instant chosen inside the restorable window. */
  readonly at?: bigint | 'random';
  /** Name of the scratch database; default `crmb_drill_<yyyymmddhhmmss>`. */
  readonly scratch?: string;
  /** Restore into the (empty) database the URL names instead of a scratch one; never dropped. */
  readonly useDatabase?: boolean;
  /** Keep the scratch database afterwards. */
  readonly keep?: boolean;
  readonly jobs: number;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  readonly drivers?: Drivers;
  readonly now?: () => Date;
  /** Tests: runs after the restore, before the restored database is read back. */
  readonly afterRestore?: (url: string) => Promise<void>;
}

export interface DrillOutcome {
  readonly record: DrillRecord;
  /** The database restored into, and whether it is still there. */
  readonly database: { readonly url: string; readonly kept: boolean };
}

export async function runDrill(opts: DrillOptions): Promise<DrillOutcome> {
  const { repo, log } = opts;
  const drivers = opts.drivers ?? registry;
  const now = opts.now ?? (() => new Date());
  if (opts.snapshot !== undefined && opts.at !== undefined)
    throw new UsageError('drill takes --snapshot ID or --at [TIME], not both.');
  const driver = await drivers.forUrl(opts.targetUrl);
  const source = await pickSource(repo, opts.source);
  const target = await drillTarget(repo, source, opts, drivers);
  if (!opts.useDatabase && !driver.scratch)
    throw new UsageError(
      `The ${driver.kind} driver cannot create scratch databases; create an empty database and drill into it with --use-database.`,
    );
  const name = opts.scratch ?? scratchName(now());
  const dbUrl = opts.useDatabase ? opts.targetUrl : await driver.scratch!.create(opts.targetUrl, name, opts);
  const dropped = !opts.useDatabase && !opts.keep;
  const started = now();
  try {
    if (!opts.useDatabase) log.info('drill.scratch', `Created the scratch database ${name} on ${redactUrl(opts.targetUrl)}.`);
    const record = await drill(opts, driver, source, target, dbUrl, started);
    const id = await repo.commitDrill(record);
    log.info('drill.recorded', `Recorded drill ${id.slice(0, 12)} in the repository.`);
    return { record: { ...record, id }, database: { url: redactUrl(dbUrl), kept: !dropped } };
  } finally {
    if (dropped)
      await driver.scratch!.drop(opts.targetUrl, name).then(
        () => log.info('drill.dropped', `Dropped the scratch database ${name}.`),
        (err: unknown) =>
          log.warn('drill.drop', `The scratch database ${name} could not be dropped (${String(err)}); drop it by hand.`),
      );
    else log.info('drill.kept', `Kept the database ${redactUrl(dbUrl)}.`);
  }
}

/** Restores, compares, and returns the record (without id). */
async function drill(
  opts: DrillOptions,
  driver: DriverModule,
  source: string,
  target: RestoreTarget,
  dbUrl: string,
  started: Date,
): Promise<Omit<DrillRecord, 'id'>> {
  const { repo, log } = opts;
  const base = {
    source,
    driver: driver.kind,
    ...(target.kind === 'time' ? { at: formatMicros(target.micros) } : {}),
    startedAt: started.toISOString(),
    target: redactUrl(opts.targetUrl),
  };
  const t0 = Date.now();
  let summary: RestoreSummary;
  try {
    summary = await restore({ repo, targetUrl: dbUrl, source, target, jobs: opts.jobs, log, signal: opts.signal });
  } catch (err) {
    // damaged backup data is the drill's finding, not a failure to run it
    const damage = integrityCause(err);
    if (!damage) throw err;
    const snap = await snapshotOf(repo, source, target);
    return {
      ...base,
      snapshot: snap ?? '',
      finishedAt: new Date().toISOString(),
      seconds: (Date.now() - t0) / 1000,
      bytes: 0,
      rows: 0,
      tables: 0,
      tablesCompared: 0,
      notCompared: [],
      verdict: 'failed',
      failure: `The restore${snap ? ` of snapshot ${snap.slice(0, 12)}` : ''} failed: ${lowerFirst(damage.message)}`,
    };
  }
  const snap = (await repo.listSnapshots({ source })).find((s) => s.id === summary.snapshot);
  if (!snap) throw new UsageError(`Snapshot ${summary.snapshot.slice(0, 12)} was forgotten while the drill ran.`);
  await opts.afterRestore?.(dbUrl);
  const expected = expectedChecksums(driver, snap);
  const restored = expected.tables.size
    ? await checksumsOf(driver, dbUrl, { jobs: opts.jobs, signal: opts.signal })
    : new Map();
  const rename = (t: string): string => driver.scratch?.restoredName?.(t, snap.meta, dbUrl) ?? t;
  const cmp = compareTables(expected, restored, summary.touched, rename);
  const record = {
    ...base,
    snapshot: snap.id,
    finishedAt: new Date().toISOString(),
    seconds: summary.seconds,
    bytes: summary.bytes,
    rows: summary.rows,
    // tables of the database, not streams a driver applies on top of them (MongoDB's change tail)
    tables: new Set(
      snap.streams.map((s) => s.table).filter((t) => !driver.tableNames.partOfEverySelection?.(t)),
    ).size,
    tablesCompared: cmp.compared.length,
    notCompared: cmp.notCompared,
  };
  if (cmp.mismatch) return { ...record, verdict: 'failed', failure: mismatchSentence(snap.id, cmp.mismatch) };
  log.info(
    'drill.passed',
    `Drill passed: restored snapshot ${snap.id.slice(0, 12)}${base.at ? ` and the log up to ${base.at}` : ''} in ${formatDuration(Math.round(summary.seconds * 1000))}; ${cmp.compared.length} of ${record.tables} tables match the snapshot's checksums` +
      (cmp.compared.length === 0 && expected.tables.size === 0 && expected.notComparable.size > 0
        ? ' (the snapshot stored no checksums: it was taken before crm-backup stored them, so only the restore itself was checked).'
        : '.'),
  );
  for (const line of cmp.notCompared) log.info('drill.not-compared', `Not compared: ${line}.`);
  return { ...record, verdict: 'passed' };
}

/** What to restore: a snapshot, an instant (given, or random inside the restorable window), or the newest snapshot. */
async function drillTarget(
  repo: Repository,
  source: string,
  opts: DrillOptions,
  drivers: Drivers,
): Promise<RestoreTarget> {
  if (opts.snapshot !== undefined) return { kind: 'snapshot', id: opts.snapshot };
  if (opts.at === undefined) return { kind: 'latest' };
  if (opts.at !== 'random') return { kind: 'time', micros: opts.at };
  const snapshots = (await repo.listSnapshots({ source })).filter((s) => !isPartialSnapshot(s));
  const segments = await repo.listSegments(source);
  const driver = await driverOfSource([...snapshots, ...segments], drivers);
  const windows = driver ? restoreWindows(snapshots, segments, driver.comparePositions) : [];
  const total = windows.reduce((n, w) => n + (w.toMicros - w.fromMicros), 0n);
  if (windows.length === 0 || total <= 0n)
    throw new UsageError(
      `--at without a time picks an instant inside the restorable window, and ${source} has none yet (no unbroken log after a full snapshot); run the stream, or drill a snapshot.`,
    );
  // uniform over the union of the windows: longer windows are drilled more often
  let pick = BigInt(Math.floor(Math.random() * Number(total)));
  for (const w of windows) {
    const len = w.toMicros - w.fromMicros;
    if (pick <= len) return { kind: 'time', micros: w.fromMicros + pick };
    pick -= len;
  }
  return { kind: 'time', micros: windows.at(-1)!.toMicros };
}

/** The snapshot a restore target names, when it can be told without restoring (for a failure sentence). */
async function snapshotOf(repo: Repository, source: string, target: RestoreTarget): Promise<string | undefined> {
  const snaps = await repo.listSnapshots({ source });
  if (target.kind === 'snapshot') return snaps.find((s) => s.id.startsWith(target.id))?.id;
  const full = snaps.filter((s) => !isPartialSnapshot(s));
  if (target.kind === 'latest') return full.at(-1)?.id;
  if (target.kind === 'time')
    return full.filter((s) => BigInt(s.consistentAtMicros) <= target.micros).at(-1)?.id;
  return undefined;
}

/** The IntegrityError behind `err` (a driver may wrap the error of the stream it was loading). */
function integrityCause(err: unknown): IntegrityError | undefined {
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 8; depth++) {
    if (e instanceof IntegrityError) return e;
    e = e.cause;
  }
  return undefined;
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}
