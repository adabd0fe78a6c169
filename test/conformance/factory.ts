/**
 * What a driver's author writes to run the driver conformance suite: one factory per database.
 *
 * The suites (`source.suite.ts`, `target.suite.ts`) know nothing of any database. They drive
 * snapshot, stream, point-in-time restore and checksums through the driver contract (the
 * registry's `DriverModule`), the core jobs and the `crm-backup` CLI, and ask the factory for
 * everything that needs the database's own vocabulary: making databases and tables, writing
 * rows, checksumming them, reading the server's clock, spelling a table name for `--tables`.
 *
 * To plug in a new driver: write `test/conformance/<db>.factory.ts` exporting a
 * `ConformanceFactory`, and `test/conformance/<db>.conformance.test.ts` calling
 * `sourceConformance(factory)` and `targetConformance(factory)` (see the PostgreSQL pair).
 */
import type { TestDatabase } from '../harness/index.js';

/**
 * The suite's logical schema, which every factory creates in its own terms:
 * - `accounts`: a primary key and a few columns;
 * - `contacts`: a primary key and a foreign key `account_id` to `accounts` (no cascade);
 * - `activities`: a composite primary key (`contact_id`, `seq`), no foreign key.
 * `contacts` is the table restored alone by the `--tables` test: it references a table that is
 * left out, so the driver's rule for keys into missing tables is exercised too.
 */
export const SUITE_TABLES = ['accounts', 'contacts', 'activities'] as const;
export type SuiteTable = (typeof SUITE_TABLES)[number];

/** The checksum of one table: its row count and a hash of its rows independent of their order. */
export interface TableChecksum {
  readonly rows: number;
  readonly hash: string;
}

/** Checksums by logical table name (a `SuiteTable`); a table that does not exist has no entry. */
export type TableChecksums = Readonly<Record<string, TableChecksum>>;

export interface ConformanceFactory {
  /** Shown in the suites' titles, e.g. `PostgreSQL`. */
  readonly name: string;
  /** The driver's `kind` in the registry; `driverFor(url)` of the factory's URLs must return it. */
  readonly kind: string;
  /**
   * What a `--tables` restore leaves in the tables it did not select: `absent` (not created) or
   * `empty` (created, no rows). PostgreSQL creates the whole schema and loads only the selection.
   */
  readonly unselectedTables: 'absent' | 'empty';

  /**
   * A new, empty database on a server the factory reaches or starts (use `test/harness`), with
   * a unique name; `drop()` removes it and any server-side change-log state pointing into it.
   * `label` is a short hint for the name (`[a-z_]`). Called inside tests and hooks only.
   */
  createDatabase(label: string): Promise<TestDatabase>;

  /**
   * Creates the suite's schema (`SUITE_TABLES`) in the database at `url` and fills it with a few
   * hundred deterministic rows, so that snapshots carry data. Same rows on every call.
   */
  createSchema(url: string): Promise<void>;

  /**
   * One workload step, committed as ONE transaction: inserts, updates and deletes in every suite
   * table, including deleting rows of an earlier step (children before parents) and updating
   * rows of the initial data. Steps run in increasing order from 1 on a database; each must
   * change every table's checksum, and must also succeed on a restored database or one that ran
   * other steps (a row it deletes or updates may be missing).
   */
  workloadStep(url: string, step: number): Promise<void>;

  /**
   * The accident a DBA restores away: ONE transaction that updates many rows of `contacts` (at
   * least ten, changing its checksum) and no other table, like `UPDATE contacts SET score = NULL
   * WHERE …`. The suite commits it between two workload steps, with checksums taken just before
   * and just after it, finds it in the stored log (`crm-backup log --tables contacts`) and
   * restores `--before` and `--through` its reference. Must succeed after any workload step.
   */
  badTransaction(url: string): Promise<void>;

  /** Checksums of the suite tables present in the database at `url`, keyed by `SuiteTable`. */
  checksums(url: string): Promise<TableChecksums>;

  /** The server's clock, µs since the Unix epoch UTC: the clock commit times are taken from. */
  serverNowMicros(url: string): Promise<bigint>;

  /** A suite table as a user types it for `restore --tables` (PostgreSQL: `public.contacts`). */
  qualify(table: SuiteTable): string;

  /**
   * Makes the server forget, for the stream named `name`, every change not yet read by it, so
   * that the next `crm-backup stream` continues after a gap. Optional: by default the suite
   * calls the driver's `SourceDriver.dropChangeLog()` (PostgreSQL drops the slot). A driver
   * whose log lives on without server-side state (a binlog) provides this instead, e.g. by
   * purging the server's logs.
   */
  loseChangeLog?(url: string, name: string): Promise<void>;

  /**
   * Cases (by the start of their title) this driver is known to fail today, each explained where
   * the factory lists it. They run as `it.fails`: the run stays green while the defect is known,
   * and turns red the day the case passes, so the entry is removed with the fix. Keep it empty.
   */
  readonly knownFailures?: readonly string[];
}
