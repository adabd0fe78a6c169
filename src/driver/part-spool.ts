/**
 * Parts of one large transaction, held until its end is known. The contract cuts large
 * transactions into parts that all carry the transaction's position and commit time, with
 * `more` on every part but the last; but a change log usually learns the position (PostgreSQL:
 * the commit record's end; MySQL: the XID event) and which part is the last only when the
 * transaction ends. So finished parts wait here: the first in memory, any further ones in a
 * temporary file, and memory holds at most two parts however large the transaction is. A
 * session lost in the middle of a transaction yields none of it: the server sends it again.
 *
 * A driver provides the parts as it fills them (`add`), then at the end of the transaction its
 * position and commit time (`transactions`), or `clear()` when the transaction is abandoned.
 */
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Position, Transaction } from './source-driver.js';

export interface SpooledPart {
  readonly payload: Uint8Array;
  readonly changes: number;
  readonly tables: readonly string[];
  /** Transaction.schemaChange: true when this part holds a change of a table's definition. */
  readonly schemaChange?: boolean;
}

interface SpoolFile {
  readonly dir: string;
  readonly handle: FileHandle;
  /** offset, length, changes, tables, schemaChange of each part after the first */
  readonly parts: Array<[number, number, number, readonly string[], boolean]>;
}

export class PartSpool {
  private first: SpooledPart | undefined;
  private file: SpoolFile | undefined;
  private size = 0;

  get count(): number {
    return (this.first ? 1 : 0) + (this.file?.parts.length ?? 0);
  }

  async add(part: SpooledPart): Promise<void> {
    if (!this.first) {
      this.first = part;
      return;
    }
    if (!this.file) {
      const dir = await mkdtemp(join(tmpdir(), 'crmb-tx-'));
      this.file = { dir, handle: await open(join(dir, 'parts'), 'w+'), parts: [] };
    }
    await this.file.handle.write(part.payload, 0, part.payload.length, this.size);
    this.file.parts.push([this.size, part.payload.length, part.changes, [...part.tables], part.schemaChange === true]);
    this.size += part.payload.length;
  }

  /** The parts in order; each is read back only when asked for. */
  async *parts(): AsyncGenerator<SpooledPart> {
    if (this.first) yield this.first;
    for (const [offset, length, changes, tables, schemaChange] of this.file?.parts ?? []) {
      const buf = Buffer.allocUnsafe(length);
      await this.file?.handle.read(buf, 0, length, offset);
      yield { payload: buf, changes, tables, ...(schemaChange ? { schemaChange } : {}) };
    }
  }

  /** The spooled parts as the transaction at `position`, `more` on all but the last; then empty. */
  async *transactions(position: Position, commitTime: bigint): AsyncGenerator<Transaction> {
    try {
      const total = this.count;
      let i = 0;
      for await (const p of this.parts()) {
        i++;
        yield {
          position,
          commitTime,
          payload: p.payload,
          changes: p.changes,
          tables: p.tables,
          more: i < total,
          ...(p.schemaChange ? { schemaChange: true } : {}),
        };
      }
    } finally {
      await this.clear();
    }
  }

  async clear(): Promise<void> {
    this.first = undefined;
    this.size = 0;
    const f = this.file;
    this.file = undefined;
    if (f) {
      await f.handle.close().catch(() => {});
      await rm(f.dir, { recursive: true, force: true });
    }
  }
}
