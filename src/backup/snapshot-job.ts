/**
 * Snapshot job: drives a SourceDriver's consistent snapshot into the repository. Tables are
 * stored concurrently (up to `jobs`); the manifest is committed last, so an interrupted run
 * leaves only unreferenced chunks and no snapshot.
 */
import { releaseLock } from './release-lock.js';
import { guardDriver } from '../driver/guard.js';
import { assertWrittenBy } from '../driver/position-order.js';
import type { DriverModule } from '../driver/driver-module.js';
import type { Finding } from '../driver/finding.js';
import type { SnapshotReader, SourceDriver, TableStream } from '../driver/source-driver.js';
import { unmatchedPhrase } from '../driver/unmatched-names.js';
import type { Repository, SnapshotFilter, StoredTableStream } from '../repository/repository-api.js';
import { AbortError, throwIfAborted, UsageError } from '../util/errors.js';
import { formatBytes, formatDuration, type Logger } from '../util/log.js';
import { redactUrl } from '../util/redact.js';
import { dateToMicros, formatMicros } from '../util/time.js';
import { refuseOnErrors } from '../driver/preflight.js';
import { hashedAsItPasses, rowHasher } from './row-checksum.js';

export interface SnapshotJobOptions {
  readonly repo: Repository;
  readonly driver: DriverModule;
  readonly sourceUrl: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly jobs: number;
  readonly tables?: readonly string[];
  readonly schemas?: readonly string[];
  /** Include who may do what (SnapshotOptions.withPrivileges). */
  readonly withPrivileges?: boolean;
  readonly log: Logger;
  readonly signal?: AbortSignal;
  /**
   * The source already being opened and checked (openSourceEarly), so that connecting and the
   * preflight overlap the repository's key derivation; runSnapshot owns it from here and closes it.
   */
  readonly opening?: Promise<OpenedSource>;
}

/** A source opened, and its preflight findings for a snapshot. */
export interface OpenedSource {
  readonly source: SourceDriver;
  readonly findings: readonly Finding[];
}

/**
 * Starts opening and checking the source before the repository is open: connecting and the
 * driver's preflight queries then overlap the key derivation (about 0.4 s of one CPU by design).
 * Pass the promise to runSnapshot as `opening`; if the run never gets that far,
 * `closeEarlySource` closes it.
 */
export function openSourceEarly(
  driver: DriverModule,
  url: string,
  name: string,
  signal?: AbortSignal,
): Promise<OpenedSource> {
  const opening = (async () => {
    const source = await guardDriver(driver).openSource(url, { name });
    try {
      return { source, findings: await source.preflight('snapshot', { signal }) };
    } catch (err) {
      await source.close().catch(() => {});
      throw err;
    }
  })();
  // its failure is reported where runSnapshot awaits it, not as an unhandled rejection meanwhile
  opening.catch(() => {});
  return opening;
}

export function closeEarlySource(opening: Promise<OpenedSource>): void {
  opening.then((o) => o.source.close()).catch(() => {});
}

export interface SnapshotResult {
  readonly id: string;
  readonly position: string;
  readonly consistentAt: string;
  readonly tables: number;
  readonly bytes: number;
  readonly rows: number;
}

export async function runSnapshot(opts: SnapshotJobOptions): Promise<SnapshotResult> {
  const { repo, log } = opts;
  // capabilities the driver does not declare are refused here, before anything is written
  const driver = guardDriver(opts.driver);
  const started = new Date();
  let lock;
  try {
    lock = await repo.lock('shared', { purpose: `snapshot of ${opts.name}` });
  } catch (err) {
    if (opts.opening) closeEarlySource(opts.opening);
    throw err;
  }
  // Stop when the lock cannot be refreshed as well as on SIGINT/SIGTERM.
  const signal = opts.signal ? AbortSignal.any([opts.signal, lock.signal]) : lock.signal;
  let source: SourceDriver | undefined;
  try {
    assertWrittenBy(
      [...(await repo.listSnapshots({ source: opts.name })), ...(await repo.listSegments(opts.name))],
      driver.kind,
    );
    let findings: readonly Finding[];
    if (opts.opening) ({ source, findings } = await opts.opening);
    else {
      source = await driver.openSource(opts.sourceUrl, { name: opts.name });
      findings = await source.preflight('snapshot', { signal });
    }
    refuseOnErrors(findings, log);
    throwIfAborted(signal);
    const reader = await source.openSnapshot({
      jobs: opts.jobs,
      tables: opts.tables,
      schemas: opts.schemas,
      withPrivileges: opts.withPrivileges === true,
      signal,
    });
    try {
      refuseUnmatched(opts, reader.matched);
      log.info(
        'snapshot.position',
        `Consistent at ${reader.consistentAt.toISOString()} (position ${reader.position}).`,
        // the driver's facts (e.g. how long a global lock was held) go with it, for the operator
        { ...reader.meta, position: reader.position },
      );
      const schema = await repo.writeStream(single(reader.schema), { signal });
      // checksums are on unless the benchmark switches them off to measure what they cost
      const framing =
        process.env['CRMB_SNAPSHOT_CHECKSUMS'] === '0' ? undefined : driver.rowFraming?.bind(driver);
      const stored = await storeStreams(repo, reader.streams(), opts.jobs, log, signal, framing);
      throwIfAborted(signal);
      // Rounding up keeps "every transaction in the snapshot committed at or before consistentAt" true.
      const consistentMicros = reader.consistentAtMicros ?? dateToMicros(reader.consistentAt) + 999n;
      const id = await repo.commitSnapshot({
        source: opts.name,
        driver: driver.kind,
        driverFormatVersion: driver.formatVersion,
        tags: [...opts.tags],
        position: reader.position,
        consistentAt: formatMicros(consistentMicros),
        consistentAtMicros: consistentMicros.toString(),
        startedAt: started.toISOString(),
        finishedAt: new Date().toISOString(),
        schemaFormat: reader.schemaFormat,
        schema,
        streams: stored,
        meta: reader.meta,
        sourceUrl: redactUrl(opts.sourceUrl),
        ...snapshotFilter(opts),
      });
      const bytes = stored.reduce((n, s) => n + s.data.bytes, 0);
      const rows = stored.reduce((n, s) => n + (s.rows ?? 0), 0);
      log.done();
      log.info(
        'snapshot.done',
        `Snapshot ${id} of ${opts.name}: ${stored.length} streams, ${rows} rows, ${formatBytes(bytes)} in ${formatDuration(Date.now() - started.getTime())}.`,
        { id, rows, bytes },
      );
      return {
        id,
        position: reader.position,
        consistentAt: reader.consistentAt.toISOString(),
        tables: stored.length,
        bytes,
        rows,
      };
    } finally {
      await reader.close();
    }
  } catch (err) {
    // Whatever broke first while stopping (a closed connection, a cancelled write), the cause is the interrupt.
    if (signal.aborted && !(err instanceof AbortError))
      throw new AbortError('The snapshot was interrupted; nothing was committed.', { cause: err });
    throw err;
  } finally {
    if (source) await source.close().catch(() => {});
    else if (opts.opening) closeEarlySource(opts.opening);
    await releaseLock(lock, log);
  }
}

/**
 * A name given to --tables or --schemas that selects no table is refused before anything is
 * stored: each name on its own, so one typo among right names is caught too.
 */
function refuseUnmatched(opts: SnapshotJobOptions, matched: SnapshotReader['matched']): void {
  const missing = (given: readonly string[] | undefined, found: readonly string[]): string[] =>
    (given ?? []).filter((n) => !found.includes(n));
  const phrase = unmatchedPhrase([
    { flag: '--tables', names: missing(opts.tables, matched.tables) },
    { flag: '--schemas', names: missing(opts.schemas, matched.schemas) },
  ]);
  if (phrase)
    throw new UsageError(`${phrase} no table of ${opts.name}; check the spelling (no snapshot was stored).`);
}

/** The manifest's record of a partial snapshot: the filter as the user gave it. */
function snapshotFilter(opts: SnapshotJobOptions): { filter?: SnapshotFilter } {
  const filter: { tables?: string[]; schemas?: string[] } = {};
  if (opts.tables?.length) filter.tables = [...opts.tables];
  if (opts.schemas?.length) filter.schemas = [...opts.schemas];
  return filter.tables || filter.schemas ? { filter } : {};
}

async function* single(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** Pulls table streams and stores up to `jobs` of them at once, in the order the driver offers. */
async function storeStreams(
  repo: Repository,
  streams: AsyncIterable<TableStream>,
  jobs: number,
  log: Logger,
  signal: AbortSignal,
  framing: DriverModule['rowFraming'],
): Promise<StoredTableStream[]> {
  const iterator = streams[Symbol.asyncIterator]();
  const stored: StoredTableStream[] = [];
  let bytesDone = 0;
  let next = async (): Promise<TableStream | undefined> => {
    const r = await iterator.next();
    return r.done ? undefined : r.value;
  };
  // Serialise pulls: the driver's iterator is not required to be safe for concurrent next().
  let pulling: Promise<unknown> = Promise.resolve();
  const pull = (): Promise<TableStream | undefined> => {
    const p = pulling.then(() => next());
    pulling = p.catch(() => undefined);
    return p;
  };
  const worker = async (): Promise<void> => {
    for (;;) {
      throwIfAborted(signal);
      const s = await pull();
      if (!s) return;
      let streamBytes = 0;
      // the per-table checksum a drill compares a restore with, computed as the bytes pass
      const own = framing ? s.rowChecksum : undefined;
      const how = own ? undefined : framing?.(s.format);
      const hasher = how ? rowHasher(how) : undefined;
      const ref = await repo.writeStream(hasher ? hashedAsItPasses(s.data, hasher) : s.data, {
        signal,
        onProgress: (b) => {
          bytesDone += b - streamBytes;
          streamBytes = b;
          log.progress(
            'snapshot.progress',
            `${stored.length} streams stored, ${formatBytes(bytesDone)} read; reading ${s.name}`,
            {
              bytes: bytesDone,
            },
          );
        },
      });
      stored.push({
        name: s.name,
        table: s.table,
        format: s.format,
        rows: s.rows,
        data: ref,
        ...(own ? { checksum: own() } : hasher ? { checksum: hasher.end() } : {}),
      });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  } catch (err) {
    next = async () => undefined;
    await iterator.return?.().catch(() => {});
    throw err;
  }
  return stored.sort((a, b) => a.name.localeCompare(b.name));
}
