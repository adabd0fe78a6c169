/**
 * Restore execution: schema (pre-data), parallel table loads, schema (post-data: indexes and
 * constraints), then replay of the log up to the target, then sequences and statistics.
 *
 * Replay runs after post-data on purpose (DESIGN.md says before): replayed UPDATE and DELETE
 * find their rows through the primary key, and without its index every one is a full scan.
 * Drivers apply with foreign-key triggers off (as logical replication does), so order is safe.
 */
import { guardDriver } from '../driver/guard.js';
import type { DriverModule } from '../driver/driver-module.js';
import type { TargetDriver } from '../driver/target-driver.js';
import type { Position } from '../driver/source-driver.js';
import type { Repository, SegmentManifest } from '../repository/repository-api.js';
import { refuseOnErrors } from '../driver/preflight.js';
import { decodeSegment } from '../repository/segment-codec.js';
import { collectBytes } from '../util/bytes.js';
import { forEachConcurrent } from '../util/concurrency.js';
import { throwIfAborted } from '../util/errors.js';
import { formatBytes, formatDuration, type Logger } from '../util/log.js';
import { formatMicros } from '../util/time.js';
import { interruptedRestore, TargetProgress } from './interrupted.js';
import { walkChain } from './chain.js';
import type { RestorePlan } from './plan.js';
import { replayStop } from './plan-ref.js';
import { tableMatcher } from './tables.js';
import { logDropped } from './target-safety.js';

export interface RestoreJobOptions {
  readonly repo: Repository;
  readonly driver: DriverModule;
  readonly plan: RestorePlan;
  readonly targetUrl: string;
  readonly jobs: number;
  readonly tables?: readonly string[];
  readonly clean?: boolean;
  readonly log: Logger;
  readonly signal?: AbortSignal;
}

export interface RestoreSummary {
  readonly snapshot: string;
  readonly tables: number;
  readonly rows: number;
  readonly bytes: number;
  readonly transactions: number;
  readonly changes: number;
  /** Position and commit time of the last transaction applied, if any. */
  readonly lastApplied?: { position: Position; commitTime: string };
  readonly seconds: number;
  /** Time spent loading table data, and replaying the log (0 without replay). */
  readonly loadSeconds: number;
  readonly replaySeconds: number;
  /**
   * The tables the replayed transactions changed (Transaction.tables), for `drill` to know which
   * tables still hold exactly the snapshot's rows; null when a transaction did not say.
   */
  readonly touched: readonly string[] | null;
}

export async function runRestore(opts: RestoreJobOptions): Promise<RestoreSummary> {
  const { repo, plan, log, signal } = opts;
  const started = Date.now();
  const snap = plan.snapshot;
  const matches = tableMatcher(opts.driver, opts.tables);
  const target = await guardDriver(opts.driver).openTarget(opts.targetUrl);
  // what the target holds so far, for the message of an interrupted restore
  const progress = new TargetProgress();
  try {
    if (target.preflight) refuseOnErrors(await target.preflight({ replay: replays(plan) }), log);
    const schema = await collectBytes(
      repo.readStream(snap.schema, { signal, context: `snapshot ${snap.id.slice(0, 12)} schema` }),
    );
    progress.cleaned = opts.clean === true;
    // --clean drops only what this schema creates, and says what (target-safety.ts)
    logDropped(await target.assertEmpty({ clean: opts.clean, schema, schemaFormat: snap.schemaFormat }), log);
    progress.schemaStarted = true;
    await target.createSchema(schema, snap.schemaFormat, 'pre-data');
    progress.schemaCreated = true;
    // Largest first, as pg_restore -j does: the longest load starts at once and the workers
    // finish together instead of one of them idling while the last big table loads.
    const always = opts.driver.tableNames.partOfEverySelection;
    const streams = snap.streams
      .filter((s) => !matches || matches(s.table) || always?.(s.table))
      .sort((a, b) => b.data.bytes - a.data.bytes);
    if (matches && !streams.some((s) => matches(s.table)))
      log.warn(
        'restore.tables',
        `No table of snapshot ${snap.id.slice(0, 12)} matches --tables ${opts.tables!.join(',')}.`,
      );
    target.planLoads?.(streams.map((s) => ({ name: s.name, bytes: s.data.bytes })));
    progress.planLoads(streams.map((s) => s.table));
    let rows = 0;
    let bytes = 0;
    let done = 0;
    // progress inside tables too: one large table can take most of a restore
    const total = streams.reduce((n, s) => n + s.data.bytes, 0);
    let read = 0;
    const loading = new Set<string>();
    const reading = (n: number): void => {
      read += n;
      const pct = total > 0 ? Math.floor((read / total) * 100) : 100;
      log.progress(
        'restore.read',
        `Loading ${[...loading].join(', ')}: ${formatBytes(read)} of ${formatBytes(total)} read (${pct}%), ${done}/${streams.length} tables done`,
        { bytes: read, total },
      );
    };
    await forEachConcurrent(streams, opts.jobs, async (s) => {
      throwIfAborted(signal);
      const data = counted(
        repo.readStream(s.data, {
          signal,
          context: `snapshot ${snap.id.slice(0, 12)} table ${s.name}`,
        }),
        reading,
      );
      loading.add(s.name);
      const stats = await target.load(s.name, s.format, data, { signal }).finally(() => {
        loading.delete(s.name);
      });
      rows += stats.rows;
      bytes += stats.bytes;
      done++;
      progress.partLoaded(s.table);
      log.progress(
        'restore.load',
        `Loaded ${done}/${streams.length} tables (${s.name}: ${stats.rows} rows), ${formatBytes(bytes)} in all`,
        {
          table: s.name,
          rows: stats.rows,
        },
      );
    });
    log.done();
    log.info(
      'restore.loaded',
      `Loaded ${streams.length} tables, ${rows} rows, ${formatBytes(bytes)} from snapshot ${snap.id.slice(0, 12)}.`,
    );
    const loadSeconds = (Date.now() - started) / 1000;
    const postStarted = Date.now();
    await target.createSchema(schema, snap.schemaFormat, 'post-data');
    progress.indexesBuilt = true;
    log.info(
      'restore.post-data',
      `Built indexes and constraints in ${formatDuration(Date.now() - postStarted)}.`,
    );
    for (const w of target.warnings?.() ?? []) log.warn('restore.schema', w);
    const replayStarted = Date.now();
    const replay = replays(plan) ? await replayLog(opts, target, matches, progress) : undefined;
    const replaySeconds = replay ? (Date.now() - replayStarted) / 1000 : 0;
    const finishStarted = Date.now();
    const late = await target.finish();
    for (const w of late || []) log.warn('restore.finish', w);
    log.info(
      'restore.finish',
      `Set sequences and refreshed statistics in ${formatDuration(Date.now() - finishStarted)}.`,
    );
    const summary: RestoreSummary = {
      snapshot: snap.id,
      tables: streams.length,
      rows,
      bytes,
      transactions: replay?.transactions ?? 0,
      changes: replay?.changes ?? 0,
      lastApplied: replay?.last,
      seconds: (Date.now() - started) / 1000,
      loadSeconds,
      replaySeconds,
      touched: replay ? (replay.touched ? [...replay.touched].sort() : null) : [],
    };
    log.info(
      'restore.done',
      `Restored ${summary.tables} tables (${rows} rows) and replayed ${summary.transactions} transactions (${summary.changes} changes${replaySeconds > 0 ? `, ${Math.round(summary.changes / replaySeconds)}/s` : ''}) in ${formatDuration(Date.now() - started)}` +
        (summary.lastApplied
          ? `; last commit applied: ${summary.lastApplied.commitTime} at position ${summary.lastApplied.position}.`
          : '.'),
    );
    return summary;
  } catch (err) {
    // whatever failed once the signal fired (a load's broken stream, say), the user interrupted it
    throw signal?.aborted ? interruptedRestore(progress, err) : err;
  } finally {
    await target.close().catch(() => {});
  }
}

async function replayLog(
  opts: RestoreJobOptions,
  target: TargetDriver,
  matches: ((t: string) => boolean) | undefined,
  progress: TargetProgress,
): Promise<{
  transactions: number;
  changes: number;
  last?: { position: Position; commitTime: string };
  touched: Set<string> | null;
}> {
  const { plan, repo, driver, log, signal } = opts;
  const stopsBefore = replayStop(plan, driver.comparePositions);
  // The driver filters row changes by qualified table name (payloads are opaque to the core).
  const tables = matches ? new Set(plan.snapshot.streams.map((s) => s.table).filter(matches)) : undefined;
  let applied: Position = plan.snapshot.position;
  let last: { position: Position; commitTime: string } | undefined;
  let transactions = 0;
  let changes = 0;
  let inTransaction = false;
  let skipping = false;
  // a driver that reads on past the instant (observeAfter) gets the rest, never to apply it
  let observing = false;
  let until = plan.untilMicros;
  let touched: Set<string> | null = new Set<string>();
  for (const seg of await segmentsToRead(opts, target.observeAfter !== undefined)) {
    const data = repo.readStream(seg.data, { signal, context: `log segment ${seg.id.slice(0, 12)}` });
    for await (const tx of decodeSegment(data, `log segment ${seg.id.slice(0, 12)}`)) {
      throwIfAborted(signal);
      if (!inTransaction && !observing) {
        // Already in the snapshot, or stored twice across a crash: positions only move forward.
        skipping = driver.comparePositions(tx.position, applied) <= 0;
        // Stop at the first commit after the target, as PostgreSQL's recovery_target_time does:
        // the restored state is then a prefix of the commit order, never a mix.
        if (!skipping && stopsBefore(tx)) {
          if (!target.observeAfter) return { transactions, changes, last, touched };
          // the instant the restored state stands at: the --at time, or just before the first
          // transaction not applied (--before/--through)
          until ??= tx.commitTime - 1n;
          observing = true;
        }
      }
      const multiPart = inTransaction || tx.more === true;
      inTransaction = tx.more === true;
      if (skipping) continue;
      if (observing) {
        if (await target.observeAfter!(tx, { untilMicros: until! })) continue;
        return { transactions, changes, last, touched };
      }
      // Only a whole single-part transaction may be skipped here: every part of a multi-part one
      // goes to the driver (which filters its rows by `tables`), or its COMMIT would never come.
      const unrelated = matches && tx.tables && tx.tables.length > 0 && !tx.tables.some(matches);
      if (!unrelated || multiPart) await target.apply(tx, { tables });
      // a transaction with row changes that does not say where may have changed any table; one
      // with neither (an idle marker, a sequence record) changed none
      if (tx.schemaChange) touched = null;
      else if (tx.tables?.length) for (const t of tx.tables) touched?.add(t);
      else if (tx.changes > 0) touched = null;
      changes += tx.changes;
      if (!inTransaction) {
        transactions++;
        applied = tx.position;
        last = { position: tx.position, commitTime: formatMicros(tx.commitTime) };
        progress.replayedUntil = last.commitTime;
        log.progress('restore.replay', `Replayed ${transactions} transactions, up to ${last.commitTime}`, {
          transactions,
        });
      }
    }
  }
  return { transactions, changes, last, touched };
}

/** A time or a transaction to replay up to; none for a snapshot alone. */
function replays(plan: RestorePlan): boolean {
  return plan.untilMicros !== undefined || plan.stop !== undefined;
}

/**
 * The planned segments; for a driver that reads on past the instant, then the ones stored after
 * them, as far as the log continues without a gap in a format this build reads.
 */
async function segmentsToRead(opts: RestoreJobOptions, onward: boolean): Promise<readonly SegmentManifest[]> {
  const { plan, repo, driver } = opts;
  if (!onward) return plan.segments;
  const end = plan.segments.at(-1)?.lastPosition;
  const { segments } = walkChain(
    plan.snapshot,
    await repo.listSegments(plan.snapshot.source),
    driver.comparePositions,
  );
  const readable = segments.findIndex(
    (s) => s.driver !== driver.kind || s.driverFormatVersion > driver.formatVersion,
  );
  const later = (readable < 0 ? segments : segments.slice(0, readable)).filter(
    (s) => end !== undefined && driver.comparePositions(s.lastPosition, end) > 0,
  );
  return [...plan.segments, ...later];
}

/** `src` as it is, telling `add` the length of each piece as it passes. */
async function* counted(
  src: AsyncIterable<Uint8Array>,
  add: (n: number) => void,
): AsyncGenerator<Uint8Array> {
  for await (const piece of src) {
    add(piece.length);
    yield piece;
  }
}
