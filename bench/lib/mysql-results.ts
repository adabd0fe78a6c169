/** What one run of bench/mysql.ts measured (written as JSON to bench/results/), and what its phases share. */
import type { TableChecksum } from '../../scripts/crm/index.js';
import type { CrmCli } from './crm-cli.js';
import type { DumpFigures } from './mysql-native.js';
import type { MyBenchOptions } from './mysql-options.js';
import type { MySeedFigures } from './mysql-seed.js';
import type { ChecksumVerdict } from './pg.js';
import type { CliRun, PgBenchResults } from './results.js';
import type { Steps } from './steps.js';

export interface MyBenchResults {
  readonly startedAt: string;
  finishedAt?: string;
  readonly options: Readonly<Record<string, string | number | boolean>>;
  readonly environment: Readonly<Record<string, string | number | readonly number[]>>;
  /** The server's settings beyond the harness's (buffer pool, redo log, doublewrite). */
  readonly serverSettings: Readonly<Record<string, string>>;
  seed?: MySeedFigures;
  /** *Seconds: the median of *Runs (one per round). */
  native: {
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
  };
  /** `crm-backup init`: judged for memory like every other command. */
  init?: CliRun;
  cliBaseline?: PgBenchResults['cliBaseline'];
  snapshot?: PgBenchResults['snapshot'];
  restore?: PgBenchResults['restore'];
  stream?: PgBenchResults['stream'] & { tickAt?: string };
  pitr?: PgBenchResults['pitr'];
  repoBytesFinal?: number;
  steps: PgBenchResults['steps'];
}

export type { CliRun, ChecksumVerdict };

export interface MyBenchContext {
  /** The throwaway server's URL (database `test`). */
  readonly serverUrl: string;
  /** The seeded CRM database. */
  readonly source: string;
  readonly repoDir: string;
  readonly cli: CrmCli;
  readonly opts: MyBenchOptions;
  readonly steps: Steps;
  readonly results: MyBenchResults;
  /** Source checksums before the write load (what the snapshot must restore to). */
  sourceBefore?: Record<string, TableChecksum>;
  /** Restore --snapshot timing from its log: seconds from `restore.loaded` to `restore.done`. */
  snapshotRestoreTail?: number;
  /** The decompressed mariadb-dump file and the mydumper folder, kept until the paired restore rounds are done. */
  nativeSql?: string;
  nativeMydumperDir?: string;
}
