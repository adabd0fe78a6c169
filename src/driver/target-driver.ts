import type { Finding } from './finding.js';
import type { Transaction } from './source-driver.js';

export interface LoadStats {
  readonly rows: number;
  readonly bytes: number;
}

export interface LoadOptions {
  readonly signal?: AbortSignal;
  /**
   * Whether loads not started yet remain in this restore. A driver may leave the work that
   * follows the last loads (index builds, statistics) to post-data, where it has every session;
   * without it a driver assumes more loads follow.
   */
  readonly moreToLoad?: () => boolean;
}

export interface TargetDriver {
  readonly kind: string;
  /**
   * Checks the target before anything is written (privileges the load and the replay need).
   * `replay` says whether log transactions will be applied. Optional: a driver without checks omits it.
   */
  preflight?(opts: { replay: boolean }): Promise<Finding[]>;
  /** Refuses (SourceError) when the target holds user objects, unless `clean` drops them first. */
  assertEmpty(opts?: { clean?: boolean }): Promise<void>;
  createSchema(schema: Uint8Array, format: string, phase: 'pre-data' | 'post-data'): Promise<void>;
  load(name: string, format: string, data: AsyncIterable<Uint8Array>, opts?: LoadOptions): Promise<LoadStats>;
  /** Applies one transaction atomically, in commit order. `tables` restricts which tables it touches. */
  apply(tx: Transaction, opts?: { tables?: ReadonlySet<string> }): Promise<void>;
  /** Things restored differently from the source that the user must hear of, after post-data. */
  warnings?(): readonly string[];
  /** Final steps after replay: sequences, statistics. */
  finish(): Promise<void>;
  close(): Promise<void>;
}
