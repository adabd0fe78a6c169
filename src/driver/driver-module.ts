import type { SourceDriver, Position } from './source-driver.js';
import type { TableNames } from './table-names.js';
import type { TargetDriver } from './target-driver.js';
import type { TransactionReader } from './transactions.js';
import type { ScratchDatabases } from './scratch.js';

/**
 * How rows are delimited in a stream format, for per-table checksums (src/backup/row-checksum.ts):
 * a row per line, BSON documents, or the driver's own splitter for a format only it can read.
 */
export type RowFraming = 'lines' | 'bson' | { readonly splitter: () => RowSplitter };

/** Finds whole rows in a stream's pieces, fed in order; a row cut by a boundary is held until complete. */
export interface RowSplitter {
  /** Calls `onRow` with each row completed by `piece`: its bytes are `buf[start, end)`. */
  split(piece: Uint8Array, onRow: (buf: Uint8Array, start: number, end: number) => void): void;
  /** After the last piece: throws when the stream ended inside a row. */
  end(): void;
}

export interface SourceOptions {
  /** Name of this source inside the repository; drivers use it for slot/publication names. */
  readonly name: string;
}

export type Capability = 'snapshot' | 'changeLog' | 'restore';

/**
 * What every `drivers/<db>/index.ts` exports as `driver`. The URL schemes it answers to are in
 * its entry in `src/driver/registry.ts`, the one list of drivers.
 */
export interface DriverModule {
  /** Short id recorded in manifests, e.g. `postgres`; equal to its registry entry's kind. */
  readonly kind: string;
  /**
   * Version of the stream, schema and payload formats this driver writes, recorded in every
   * manifest. Raise it when an older reader would misread the new output: `guard.ts` then
   * refuses manifests newer than the installed driver.
   */
  readonly formatVersion: number;
  /** Capabilities are declared, not guessed; `guard.ts` refuses what a driver does not declare. */
  readonly capabilities: Readonly<Record<Capability, boolean>>;
  comparePositions(a: Position, b: Position): number;
  /** Reads the table names a user types (`--tables`) and matches them against the names it writes. */
  readonly tableNames: TableNames;
  openSource(url: string, opts: SourceOptions): Promise<SourceDriver>;
  openTarget(url: string): Promise<TargetDriver>;
  /**
   * Decodes the transactions this driver stored, for `log` and `restore --before/--through`
   * (transactions.ts). Without it those commands refuse with one sentence.
   */
  readonly transactions?: TransactionReader;
  /**
   * The zstd level of this driver's snapshot data when `snapshot --compression` is not given
   * (DEFAULT_SNAPSHOT_COMPRESSION otherwise): the level that keeps the snapshot within its
   * benchmark against the database's native dump tool.
   */
  readonly snapshotCompression?: number;
  /**
   * How the rows of a stream of this `format` (TableStream.format) are delimited, so the snapshot
   * job can store a checksum per table as the bytes pass; undefined for a format whose units are
   * not the table's rows (MongoDB's change tail). Optional: without it snapshots carry no checksums.
   */
  rowFraming?(format: string): RowFraming | undefined;
  /** Creates and drops the scratch databases of `crm-backup drill` (scratch.ts). Optional. */
  readonly scratch?: ScratchDatabases;
}

export const DEFAULT_SNAPSHOT_COMPRESSION = 6;
