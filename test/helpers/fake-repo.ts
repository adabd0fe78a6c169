/**
 * Snapshots and log segments of the fake driver (test/helpers/fake-driver.ts) written straight
 * into a repository, for tests of the core's planning, listing and retention: positions are
 * unpadded decimals, times are seconds after T0, each table stream holds its table's name.
 */
import type { Transaction } from '../../src/driver/source-driver.js';
import type { Repository, SnapshotManifest } from '../../src/repository/repository-api.js';
import { SEGMENT_MAGIC, encodeTransaction } from '../../src/repository/segment-codec.js';
import { formatMicros } from '../../src/util/time.js';

export const S = 1_000_000n; // µs in a second
export const T0 = 1_767_225_600n * S; // 2026-01-01T00:00:00Z
export const SOURCE = 'crm';

/** Transactions at these positions, one second apart from `firstSecond` on, touching `tables`. */
export function txs(
  positions: readonly number[],
  firstSecond: number,
  tables: readonly string[] = ['t'],
): Transaction[] {
  return positions.map((p, i) => ({
    position: String(p),
    commitTime: T0 + BigInt(firstSecond + i) * S,
    payload: Buffer.from(`tx ${p}`),
    changes: 1,
    tables,
  }));
}

async function bytes(repo: Repository, text: string) {
  return repo.writeStream(
    (async function* () {
      if (text) yield Buffer.from(text);
    })(),
  );
}

export interface FakeSnapshot {
  readonly position: number;
  readonly second: number;
  readonly tables?: readonly string[];
  readonly tags?: readonly string[];
  readonly filter?: SnapshotManifest['filter'];
  readonly source?: string;
}

/** Commits a snapshot manifest of the fake driver; returns its id. */
export async function fakeSnapshot(repo: Repository, s: FakeSnapshot): Promise<string> {
  const micros = T0 + BigInt(s.second) * S;
  const streams = [];
  for (const table of s.tables ?? ['t'])
    streams.push({ name: table, table, format: 'fake', rows: 1, data: await bytes(repo, table) });
  return repo.commitSnapshot({
    source: s.source ?? SOURCE,
    driver: 'fake',
    driverFormatVersion: 1,
    tags: [...(s.tags ?? [])],
    position: String(s.position),
    consistentAt: formatMicros(micros),
    consistentAtMicros: String(micros),
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    schemaFormat: 'fake',
    schema: await bytes(repo, ''),
    streams,
    meta: {},
    sourceUrl: 'fake://crm',
    ...(s.filter ? { filter: s.filter } : {}),
  });
}

/** Commits a segment continuing from position `from` holding `log`; returns its id. */
export async function fakeSegment(
  repo: Repository,
  from: number,
  log: readonly Transaction[],
  source = SOURCE,
): Promise<string> {
  const data = await repo.writeStream(
    (async function* () {
      yield SEGMENT_MAGIC;
      for (const t of log) yield encodeTransaction(t);
    })(),
  );
  const first = log[0]!;
  const last = log.at(-1)!;
  return repo.commitSegment({
    source,
    driver: 'fake',
    driverFormatVersion: 1,
    fromPosition: String(from),
    firstPosition: first.position,
    lastPosition: last.position,
    firstCommitMicros: String(first.commitTime),
    lastCommitMicros: String(last.commitTime),
    coveredUntilMicros: String(last.commitTime - 1n),
    transactions: log.length,
    changes: log.length,
    tables: [...new Set(log.flatMap((t) => t.tables ?? []))],
    data,
    createdAt: new Date().toISOString(),
  });
}
