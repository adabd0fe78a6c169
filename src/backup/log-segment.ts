/**
 * One log segment being written: transactions are framed and streamed straight into the
 * repository (never held whole in memory); `commit` writes the manifest, which is the commit.
 */
import type { Transaction, Position } from '../driver/source-driver.js';
import type { Repository, SegmentManifest, StreamRef } from '../repository/repository-api.js';
import { ByteQueue } from '../util/async-queue.js';
import { SEGMENT_MAGIC, encodeTransaction } from '../repository/segment-codec.js';

/** Bytes of framed transactions queued ahead of the repository writer. */
const QUEUE_LIMIT = 8 * 1024 * 1024;

export interface SegmentIdentity {
  readonly source: string;
  readonly driver: string;
  readonly driverFormatVersion: number;
}

export class OpenSegment {
  readonly openedAt = Date.now();
  readonly #queue = new ByteQueue(QUEUE_LIMIT);
  readonly #stored: Promise<StreamRef>;
  #firstPosition: Position | undefined;
  #lastPosition: Position;
  #firstCommit = 0n;
  #lastCommit = 0n;
  #newestCommit = -1n;
  #transactions = 0;
  #changes = 0;
  #bytes = 0;
  #inTransaction = false;
  readonly #tables = new Set<string>();

  constructor(
    private readonly repo: Repository,
    private readonly id: SegmentIdentity,
    readonly fromPosition: Position,
    signal: AbortSignal,
  ) {
    this.#lastPosition = fromPosition;
    this.#stored = repo.writeStream(this.#queue, { signal });
    // A failed write must stop the producer at its next push, not let it fill memory.
    this.#stored.catch((err: unknown) => this.#queue.fail(err));
    void this.#queue.push(SEGMENT_MAGIC);
  }

  get bytes(): number {
    return this.#bytes;
  }
  get transactions(): number {
    return this.#transactions;
  }
  get lastPosition(): Position {
    return this.#lastPosition;
  }
  /** True between the first and the last part of a multi-part transaction. */
  get inTransaction(): boolean {
    return this.#inTransaction;
  }

  async add(tx: Transaction): Promise<void> {
    const framed = encodeTransaction(tx);
    await this.#queue.push(framed);
    this.#bytes += framed.length;
    this.#changes += tx.changes;
    for (const t of tx.tables ?? []) this.#tables.add(t);
    if (!this.#inTransaction) {
      this.#transactions++;
      if (this.#firstPosition === undefined) {
        this.#firstPosition = tx.position;
        this.#firstCommit = tx.commitTime;
      }
    }
    this.#inTransaction = tx.more === true;
    if (!this.#inTransaction) {
      this.#lastPosition = tx.position;
      this.#lastCommit = tx.commitTime;
      if (tx.commitTime > this.#newestCommit) this.#newestCommit = tx.commitTime;
    }
  }

  /** Every transaction up to `position` has been seen (a heartbeat): the acknowledgement may move there. */
  advance(position: Position, compare: (a: Position, b: Position) => number): void {
    if (this.#inTransaction) return;
    if (compare(position, this.#lastPosition) > 0) this.#lastPosition = position;
  }

  async commit(): Promise<SegmentManifest> {
    this.#queue.end();
    const data = await this.#stored;
    const manifest = {
      source: this.id.source,
      driver: this.id.driver,
      driverFormatVersion: this.id.driverFormatVersion,
      fromPosition: this.fromPosition,
      firstPosition: this.#firstPosition ?? this.#lastPosition,
      lastPosition: this.#lastPosition,
      firstCommitMicros: this.#firstCommit.toString(),
      lastCommitMicros: this.#lastCommit.toString(),
      // A commit at c proves every instant before c; c itself only once a later commit is seen,
      // since the next commit in log order may carry the same or an earlier timestamp.
      coveredUntilMicros: (this.#newestCommit < 0n ? -1n : this.#newestCommit - 1n).toString(),
      transactions: this.#transactions,
      changes: this.#changes,
      tables: [...this.#tables].sort(),
      data,
      createdAt: new Date().toISOString(),
    };
    const segmentId = await this.repo.commitSegment(manifest);
    return { id: segmentId, ...manifest };
  }

  /** Drops the segment: its chunks stay unreferenced (prune removes them) and nothing is acknowledged. */
  async discard(reason: unknown): Promise<void> {
    this.#queue.fail(reason);
    await this.#stored.catch(() => {});
  }
}
