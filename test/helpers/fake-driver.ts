/**
 * A driver that needs no database, for tests of the core's use of the driver contract. Its
 * positions are decimal numbers WITHOUT padding ("9" < "10" < "100"), so any ordering of
 * positions as strings in the core shows up as a wrong answer. Its target records what it gets.
 */
import type { DriverModule } from '../../src/driver/driver-module.js';
import type { Drivers } from '../../src/driver/registry.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import type { TargetDriver } from '../../src/driver/target-driver.js';
import type { TransactionReader } from '../../src/driver/transactions.js';
import { UsageError } from '../../src/util/errors.js';

export interface FakeTarget extends TargetDriver {
  /** Transactions applied, in the order they came. */
  readonly applied: Transaction[];
  /** Table streams loaded, by name. */
  readonly loaded: string[];
}

export function fakeTarget(): FakeTarget {
  const applied: Transaction[] = [];
  const loaded: string[] = [];
  return {
    kind: 'fake',
    applied,
    loaded,
    assertEmpty: async () => {},
    createSchema: async () => {},
    load: async (name, _format, data) => {
      let bytes = 0;
      for await (const piece of data) bytes += piece.length;
      loaded.push(name);
      return { rows: 0, bytes };
    },
    apply: async (tx) => void applied.push(tx),
    finish: async () => {},
    close: async () => {},
  };
}

export function fakeDriver(target: TargetDriver = fakeTarget(), formatVersion = 1): DriverModule {
  return {
    kind: 'fake',
    formatVersion,
    capabilities: { snapshot: false, changeLog: false, restore: true },
    comparePositions: (a, b) => {
      const d = BigInt(a) - BigInt(b);
      return d < 0n ? -1 : d > 0n ? 1 : 0;
    },
    // a bare name matches it under any qualifier, as PostgreSQL's `table` matches `public.table`
    tableNames: {
      matcher: (wanted) => (t) => wanted.includes(t) || wanted.includes(t.slice(t.lastIndexOf('.') + 1)),
    },
    openSource: async () => {
      throw new Error('the fake driver has no source');
    },
    openTarget: async () => target,
    transactions: fakeTransactions,
  };
}

/**
 * The fake driver's transactions: reference `tx-<position>`; each stored change counts as one
 * update of every table the part names (a part without tables and changes is internal); a row
 * change's key is the position and the change's number.
 */
export const fakeTransactions: TransactionReader = {
  commitTimeResolution: 'second',
  summarize: (tx) => ({
    ref: `tx-${tx.position}`,
    tables: (tx.tables ?? []).map((table) => ({
      table,
      inserts: 0,
      updates: tx.changes,
      deletes: 0,
      truncates: 0,
    })),
    statements: [],
    internal: tx.changes === 0 && (tx.tables ?? []).length === 0,
  }),
  *changes(tx) {
    for (const table of tx.tables ?? [])
      for (let i = 0; i < tx.changes; i++)
        yield {
          table,
          op: 'update',
          key: { position: tx.position, n: String(i) },
          columns: [{ name: 'payload', new: Buffer.from(tx.payload).toString() }],
        };
  },
  parseReference: (text) => {
    const m = /^tx-(\d+)$/.exec(text);
    if (!m) throw new UsageError(`"${text}" is not a fake transaction reference like tx-10.`);
    return { position: m[1]!, ref: text };
  },
};

/** A `Drivers` lookup that knows only `driver`. */
export function onlyDriver(driver: DriverModule): Drivers {
  return { byKind: async () => driver, forUrl: async () => driver };
}
