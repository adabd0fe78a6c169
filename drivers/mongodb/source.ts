/**
 * The MongoDB source: preflight here, snapshots in snapshot.ts, the change stream in
 * change-log.ts. Each call opens the client it needs, so a source holds nothing open between calls.
 */
import type { Finding, Need } from '../../src/driver/finding.js';
import type {
  ChangeLog,
  Position,
  PreflightOptions,
  SnapshotOptions,
  SnapshotReader,
  SourceDriver,
  StreamOptions,
} from '../../src/driver/source-driver.js';
import { throwIfAborted } from '../../src/util/errors.js';
import { dropMongoChangeLog, openMongoChangeLog } from './change-log.js';
import {
  connect,
  mongoError,
  PREFLIGHT_SELECT_MS,
  serverFacts,
  type MongoEndpoint,
} from './internal/connection.js';
import { preflight } from './preflight.js';
import { openSnapshot } from './snapshot.js';

export class MongoSource implements SourceDriver {
  readonly kind = 'mongodb';
  constructor(
    readonly endpoint: MongoEndpoint,
    /** Source name inside the repository. */
    readonly name: string,
  ) {}

  async preflight(need: Need, opts?: PreflightOptions): Promise<Finding[]> {
    throwIfAborted(opts?.signal);
    const client = await connect(this.endpoint, { serverSelectionTimeoutMS: PREFLIGHT_SELECT_MS });
    try {
      return await preflight(client, this.endpoint, await serverFacts(client), need, opts?.storedPosition);
    } catch (err) {
      throw mongoError(err, this.endpoint, 'Cannot check');
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  openSnapshot(opts: SnapshotOptions): Promise<SnapshotReader> {
    return openSnapshot(this.endpoint, opts);
  }

  openChangeLog(from: Position | undefined, opts: StreamOptions): Promise<ChangeLog> {
    return openMongoChangeLog(this.endpoint, from, { ...opts, sourceName: this.name });
  }

  dropChangeLog(): Promise<readonly string[]> {
    return dropMongoChangeLog(this.endpoint, this.name);
  }

  async close(): Promise<void> {}
}
