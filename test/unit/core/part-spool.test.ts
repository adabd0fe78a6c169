/**
 * A large transaction reaches the stream job as parts that all carry its position and commit
 * time, `more` on all but the last; the spool holds them until the driver knows both.
 */
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PartSpool } from '../../../src/driver/part-spool.js';
import type { Transaction } from '../../../src/driver/source-driver.js';

const part = (i: number) => ({
  payload: Buffer.from(`part ${i} `.repeat(100)),
  changes: i + 1,
  tables: [`t${i}`],
});
const spoolDirs = async (): Promise<string[]> =>
  (await readdir(tmpdir())).filter((d) => d.startsWith('crmb-tx-'));

async function collect(items: AsyncIterable<Transaction>): Promise<Transaction[]> {
  const out: Transaction[] = [];
  for await (const t of items) out.push(t);
  return out;
}

describe('PartSpool', () => {
  it('yields the parts in order as one transaction, `more` on all but the last, and removes its file', async () => {
    const before = new Set(await spoolDirs());
    const spool = new PartSpool();
    for (let i = 0; i < 4; i++) await spool.add(part(i));
    const mine = (await spoolDirs()).filter((d) => !before.has(d));
    expect(mine).toHaveLength(1); // parts after the first wait on disk, not in memory

    const tx = await collect(spool.transactions('00000010', 42n));
    expect(tx.map((t) => Buffer.from(t.payload).toString())).toEqual(
      [0, 1, 2, 3].map((i) => `part ${i} `.repeat(100)),
    );
    expect(tx.map((t) => [t.position, t.commitTime, t.changes, t.tables, t.more])).toEqual([
      ['00000010', 42n, 1, ['t0'], true],
      ['00000010', 42n, 2, ['t1'], true],
      ['00000010', 42n, 3, ['t2'], true],
      ['00000010', 42n, 4, ['t3'], false],
    ]);
    expect(spool.count).toBe(0);
    expect((await spoolDirs()).filter((d) => mine.includes(d))).toEqual([]);
  });

  it('gives a transaction of one part without `more`, and the next transaction starts empty', async () => {
    const spool = new PartSpool();
    await spool.add(part(0));
    expect((await collect(spool.transactions('01', 1n))).map((t) => t.more)).toEqual([false]);
    await spool.add(part(5));
    const next = await collect(spool.transactions('02', 2n));
    expect(next.map((t) => [t.position, t.changes, t.more])).toEqual([['02', 6, false]]);
  });

  it('drops an abandoned transaction, file included, and one the consumer stopped reading', async () => {
    const before = new Set(await spoolDirs());
    const spool = new PartSpool();
    for (let i = 0; i < 3; i++) await spool.add(part(i));
    await spool.clear();
    expect(spool.count).toBe(0);
    for (let i = 0; i < 3; i++) await spool.add(part(i));
    for await (const _t of spool.transactions('03', 3n)) break;
    expect(spool.count).toBe(0);
    expect((await spoolDirs()).filter((d) => !before.has(d))).toEqual([]);
  });
});
