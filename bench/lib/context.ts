/** What every phase of a database benchmark shares (bench/postgres.ts, bench/mysql.ts). */
import type { TableChecksum } from '../../scripts/crm/index.js';
import type { BenchDb } from './bench-db.js';
import type { CrmCli } from './crm-cli.js';
import type { BenchOptions } from './options.js';
import type { BenchResults } from './results.js';
import type { Steps } from './steps.js';

/** A native restore timed again in rounds 2..N, alternating with crm-backup's (snapshot-phase.ts). */
export interface NativeRestore {
  /** Its name in the rounds' lines: `pg_restore`, `myloader`. */
  readonly label: string;
  /** Its seconds so far, round 1's first; undefined when round 1 did not run (the line shows —). */
  readonly runs: number[] | undefined;
  /** Times one restore into a fresh database, dropped once timed. */
  restore(): Promise<number>;
  /** Records the median of `runs` once the rounds are done. */
  settle(median: number): void;
  /** Left out of the medians line (its median is in the table and the JSON all the same). */
  readonly quiet?: boolean;
}

/** A native dump timed again in rounds 2..N, alternating with crm-backup's snapshot (snapshot-phase.ts). */
export interface NativeDump {
  /** Its name in the rounds' lines: `pg_dump -Fc`, `mydumper`. */
  readonly label: string;
  /** Its seconds so far, round 1's first. */
  readonly runs: number[];
  /** Times one more dump into a scratch file or folder, removed once timed. */
  dump(): Promise<number>;
  /** Records the median of `runs` once the rounds are done. */
  settle(median: number): void;
}

/** What rounds 2..N alternate with crm-backup's restore; set by the native phase. */
export interface NativeRounds {
  /** The rounds step's description after "N more": `pg_restore / crm-backup restore pairs`. */
  readonly what: string;
  readonly restores: readonly NativeRestore[];
  /** The native dump files and folders they read: removed once the rounds are done. */
  readonly files: readonly string[];
}

export interface BenchContext<O extends BenchOptions = BenchOptions, R extends BenchResults = BenchResults> {
  readonly db: BenchDb;
  /** The throwaway server's URL (PostgreSQL: database `postgres`; MariaDB: `test`). */
  readonly serverUrl: string;
  /** The seeded CRM database. */
  readonly source: string;
  readonly repoDir: string;
  readonly cli: CrmCli;
  readonly opts: O;
  readonly steps: Steps;
  readonly results: R;
  /** Source checksums before the write load (what the snapshot must restore to). */
  sourceBefore?: Record<string, TableChecksum>;
  /** Restore --snapshot timing from its log: seconds from `restore.loaded` to `restore.done`. */
  snapshotRestoreTail?: number;
  /** The native restores of rounds 2..N and their dumps, kept until those rounds are done. */
  nativeRounds?: NativeRounds;
  /** The native dumps whose round 1 ran, timed again alternating with crm-backup's snapshot. */
  nativeDumps?: readonly NativeDump[];
}
