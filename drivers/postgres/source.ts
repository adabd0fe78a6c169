/**
 * The PostgreSQL source: preflight and snapshots here, the change log delegated to
 * `change-log.ts` (slot and publication named after the source). Each call opens the
 * connections it needs, so a source holds nothing open between calls.
 */
import type pg from 'pg';
import type { Finding, Need } from '../../src/driver/finding.js';
import type {
  ChangeLog,
  Position,
  SnapshotOptions,
  SnapshotReader,
  SourceDriver,
  StreamOptions,
} from '../../src/driver/source-driver.js';
import { throwIfAborted } from '../../src/util/errors.js';
import { dropPgChangeLog, openPgChangeLog } from './change-log.js';
import { connect, connectionError, type PgEndpoint } from './internal/connection.js';
import { preflight } from './preflight.js';
import { openSnapshot } from './snapshot.js';

export class PostgresSource implements SourceDriver {
  readonly kind = 'postgres';
  constructor(
    readonly target: PgEndpoint,
    /** Source name inside the repository; the change log derives slot and publication names from it. */
    readonly name: string,
  ) {}

  async preflight(need: Need, opts?: { signal?: AbortSignal }): Promise<Finding[]> {
    throwIfAborted(opts?.signal);
    return this.withClient((c) => preflight(c, need, { name: this.name }));
  }

  openSnapshot(opts: SnapshotOptions): Promise<SnapshotReader> {
    return openSnapshot(this.target, opts);
  }

  async openChangeLog(from: Position | undefined, opts: StreamOptions): Promise<ChangeLog> {
    return openPgChangeLog(this.target, this.name, from, opts);
  }

  async dropChangeLog(): Promise<readonly string[]> {
    return dropPgChangeLog(this.target, this.name);
  }

  async close(): Promise<void> {}

  private async withClient<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await connect(this.target);
    try {
      return await fn(c);
    } catch (err) {
      throw err instanceof Error && 'exitCode' in err ? err : connectionError(err, this.target);
    } finally {
      await c.end().catch(() => {});
    }
  }
}
