/**
 * The MySQL/MariaDB source: preflight and snapshots here, the binlog change log in change-log.ts.
 * Each call opens the connections it needs, so a source holds nothing open between calls.
 */
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
import { dropMysqlChangeLog, openMysqlChangeLog } from './change-log.js';
import { connect, connectionError, type MysqlEndpoint, type Session } from './internal/connection.js';
import { preflight } from './preflight.js';
import { openSnapshot } from './snapshot.js';

export class MysqlSource implements SourceDriver {
  readonly kind = 'mysql';
  constructor(
    readonly target: MysqlEndpoint,
    /** Source name inside the repository. */
    readonly name: string,
  ) {}

  async preflight(need: Need, opts?: { signal?: AbortSignal }): Promise<Finding[]> {
    throwIfAborted(opts?.signal);
    return this.withSession((s) => preflight(s, need, this.target.database));
  }

  openSnapshot(opts: SnapshotOptions): Promise<SnapshotReader> {
    return openSnapshot(this.target, opts);
  }

  openChangeLog(from: Position | undefined, opts: StreamOptions): Promise<ChangeLog> {
    return openMysqlChangeLog(this.target.options, from, {
      ...opts,
      sourceName: this.name,
      database: this.target.database,
    });
  }

  dropChangeLog(): Promise<readonly string[]> {
    return dropMysqlChangeLog(this.target.options, this.name);
  }

  async close(): Promise<void> {}

  private async withSession<T>(fn: (s: Session) => Promise<T>): Promise<T> {
    const s = await connect(this.target).catch((err: unknown) => {
      throw connectionError(err, this.target);
    });
    try {
      return await fn(s);
    } catch (err) {
      throw err instanceof Error && 'exitCode' in err ? err : connectionError(err, this.target);
    } finally {
      await s.end();
    }
  }
}
