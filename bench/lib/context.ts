/** What every phase of bench/postgres.ts shares. */
import type { TableChecksum } from '../../scripts/crm/index.js';
import type { CrmCli } from './crm-cli.js';
import type { PgBenchOptions } from './options.js';
import type { PgBenchResults } from './results.js';
import type { Steps } from './steps.js';

export interface BenchContext {
  /** The throwaway server's maintenance URL (database `postgres`). */
  readonly serverUrl: string;
  /** The seeded CRM database. */
  readonly source: string;
  readonly repoDir: string;
  readonly cli: CrmCli;
  readonly opts: PgBenchOptions;
  readonly steps: Steps;
  readonly results: PgBenchResults;
  /** Source checksums before the write load (what the snapshot must restore to). */
  sourceBefore?: Record<string, TableChecksum>;
  /** Restore --snapshot timing from its log: seconds from `restore.loaded` to `restore.done`. */
  snapshotRestoreTail?: number;
  /** The pg_dump -Fc file, kept until the paired restore rounds are done. */
  nativeDump?: string;
}
