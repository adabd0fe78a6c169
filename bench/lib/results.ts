/**
 * What one run of a database benchmark measured (bench/postgres.ts, bench/mysql.ts), written as
 * JSON to bench/results/: the fields every benchmark shares, and each one's native baselines.
 */
import type { ChecksumVerdict } from './checksums.js';
import type { LoadResult } from './load.js';
import type { MyDbSize } from './mysql.js';
import type { DbSize } from './pg.js';
import type { SeedFigures } from './seed.js';
import type { StepRecord } from './steps.js';

export interface CliRun {
  readonly seconds: number;
  readonly peakRssBytes: number;
}

/** Time and bytes of a native dump (one file, or a folder of them). */
export interface DumpFigures {
  /** The median of runs when the snapshot had rounds. */
  readonly seconds: number;
  /** Round 1's file or folder. */
  readonly bytes: number;
  /** One per snapshot round, round 1's first. */
  readonly runs?: readonly number[];
}

export interface StreamFigures {
  peakRssBytes: number;
  load?: LoadResult;
  /** E: the server's clock right after the last load transaction committed. */
  loadEnd?: string;
  /** The server's clock after the closing commit, when that commit had to wait (MariaDB: for E's second to pass). */
  tickAt?: string;
  catchUpSeconds?: number;
  /** Largest `stream.lag` sample from load start to catch-up (samples are 5 s apart). */
  maxLagSeconds?: number;
  lagSamples: number;
  /** Worst (segment logged − previous segment's coverage) under load: the achieved RPO. */
  maxRestorableLagSeconds?: number;
  segments: number;
  /** Segments stored from load start to catch-up: when, and up to which instant they made the log complete. */
  coverage?: Array<{ storedAt: string; coveredUntil: string }>;
  /** `list --json` agreed that restorable[].to reaches E. */
  listConfirms?: boolean;
  exitCode?: number | null;
}

export interface BenchResults<Seed = unknown, Native = unknown> {
  readonly startedAt: string;
  finishedAt?: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
  readonly environment: Readonly<Record<string, string | number | readonly number[]>>;
  seed?: Seed;
  /** The native tools' figures; *Seconds: the median of *Runs (one per round). */
  native: Native;
  /** `crm-backup init`. */
  init?: CliRun;
  /** The CLI doing nothing (`--version`) and only opening the repository (`list`): the floor under every figure. */
  cliBaseline?: { version: CliRun; list: CliRun };
  /** seconds: the median of runs (rounds 2.. each into a new repository); repoBytes and id: round 1's. */
  snapshot?: CliRun & { id: string; repoBytes: number; tables: number; rows: number; runs?: number[] };
  /** seconds: the median of runs; the first run is the one judged by checksums. */
  restore?: CliRun & { summarySeconds?: number; checksums?: ChecksumVerdict; runs?: number[] };
  stream?: StreamFigures;
  pitr?: CliRun & {
    transactions: number;
    changes: number;
    replaySeconds?: number;
    replayMethod: string;
    /** The simple estimate: restore --at summary seconds − restore --snapshot summary seconds. */
    replaySecondsByTotals?: number;
    changesPerSecond?: number;
    checksums?: ChecksumVerdict;
  };
  repoBytesFinal?: number;
  steps: StepRecord[];
}

export type PgBenchResults = BenchResults<
  SeedFigures<DbSize>,
  {
    dumpZ0?: DumpFigures;
    dump?: DumpFigures;
    restoreSeconds?: number;
    restoreRuns?: number[];
    /** pg_restore with lz4 TOAST compression (LZ4_TOAST_ENV), one per round, and their median. */
    restoreLz4Seconds?: number;
    restoreLz4Runs?: number[];
  }
>;

export interface MyBenchResults
  extends BenchResults<
    SeedFigures<MyDbSize>,
    {
      /** `mariadb-dump --single-transaction | zstd -3`: time and file bytes. */
      dump?: DumpFigures;
      /** The same dump decompressed: what `mariadb < dump.sql` reads. */
      dumpSqlBytes?: number;
      restoreSeconds?: number;
      restoreRuns?: number[];
      /** `mydumper -t N -c`: time and folder bytes. */
      mydumper?: DumpFigures;
      myloaderSeconds?: number;
      myloaderRuns?: number[];
      /** Why mydumper/myloader did not run, when they did not. */
      mydumperMissing?: string;
    }
  > {
  /** The server's settings beyond the harness's (buffer pool, redo log, doublewrite). */
  readonly serverSettings: Readonly<Record<string, string>>;
}

/** What bench/mongodb.ts's seed reports of the database (dbStats). */
export interface MongoDbSize {
  /** Uncompressed BSON of every document (dbStats dataSize). */
  readonly data: number;
  /** On disk, compressed by WiredTiger (dbStats storageSize). */
  readonly storage: number;
  readonly indexes: number;
  readonly collections: number;
}

export type MongoBenchResults = BenchResults<
  SeedFigures<MongoDbSize>,
  {
    /** `mongodump --archive --gzip --numParallelCollections J` of the database: time and folder bytes. */
    dump?: DumpFigures;
    /** `mongorestore --archive --gzip --numParallelCollections J` of that folder, one per round, and their median. */
    restoreSeconds?: number;
    restoreRuns?: number[];
    /** Why mongodump/mongorestore did not run, when they did not. */
    toolsMissing?: string;
    /** `mongodump --version`'s first line, when installed. */
    toolsVersion?: string;
  }
> & {
  /** The server's version and topology, from hello and buildInfo. */
  server?: { version: string; topology: string };
};
