/** What one run of bench/postgres.ts measured; written as JSON to bench/results/. */
import type { LoadResult } from './load.js';
import type { DumpFigures } from './native.js';
import type { ChecksumVerdict, DbSize } from './pg.js';
import type { StepRecord } from './steps.js';

export interface CliRun {
  readonly seconds: number;
  readonly peakRssBytes: number;
}

export interface PgBenchResults {
  readonly startedAt: string;
  finishedAt?: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
  readonly environment: Readonly<Record<string, string | number | readonly number[]>>;
  seed?: { seconds: number; rows: number; size: DbSize };
  /** restoreSeconds: the median of restoreRuns (one per round). */
  native: {
    dumpZ0?: DumpFigures;
    dump?: DumpFigures;
    restoreSeconds?: number;
    restoreRuns?: number[];
    /** pg_restore with lz4 TOAST compression (LZ4_TOAST_ENV), one per round, and their median. */
    restoreLz4Seconds?: number;
    restoreLz4Runs?: number[];
  };
  /** The CLI doing nothing (`--version`) and only opening the repository (`list`): the floor under every figure. */
  cliBaseline?: { version: CliRun; list: CliRun };
  snapshot?: CliRun & { id: string; repoBytes: number; tables: number; rows: number };
  /** seconds: the median of runs; the first run is the one judged by checksums. */
  restore?: CliRun & { summarySeconds?: number; checksums?: ChecksumVerdict; runs?: number[] };
  stream?: {
    peakRssBytes: number;
    load?: LoadResult;
    /** E: the server's clock right after the last load transaction committed. */
    loadEnd?: string;
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
  };
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
