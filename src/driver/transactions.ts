/**
 * How a driver shows the transactions it stored, for `crm-backup log` and for `restore --before` /
 * `--through`: a stable reference a user can copy and type back, per-table change counts, the row
 * changes of one transaction, and the reading of a reference. Payloads are opaque to the core;
 * this is the driver decoding its own.
 *
 * A large transaction is stored in several parts with the same position (`more` on all but the
 * last). Every method here looks at ONE part, so that memory never holds a whole transaction: the
 * core merges the summaries of one transaction's parts by adding their counts.
 */
import type { Position, Transaction } from './source-driver.js';

/** Row changes of one table in one transaction (part). */
export interface TableChangeCounts {
  /** The table as the driver writes it (`Transaction.tables`), e.g. `public.contacts`. */
  readonly table: string;
  readonly inserts: number;
  readonly updates: number;
  readonly deletes: number;
  /** Whole-table operations (TRUNCATE); their rows are not counted. */
  readonly truncates: number;
}

export interface PartSummary {
  /**
   * The transaction's reference, the same for every part: what `log` prints and
   * `parseReference` reads back (PostgreSQL `xid@LSN`, MySQL a GTID or `file:pos`, MongoDB
   * `lsid`+`txnNumber` or a cluster time). It names the transaction in its source's log.
   */
  readonly ref: string;
  /** Tables with row changes in this part, in the order they first appear. */
  readonly tables: readonly TableChangeCounts[];
  /** Changes that are not rows of a table, one short line each (captured DDL). */
  readonly statements: readonly string[];
  /**
   * Written by crm-backup itself, not by the application (idle markers, sequence records):
   * `log` leaves it out unless asked for everything. A part with row changes is never internal.
   */
  readonly internal: boolean;
}

/** One column of a row change. `old` / `new` absent: the log does not hold that value. */
export interface ColumnChange {
  readonly name: string;
  readonly old?: string | null;
  readonly new?: string | null;
}

export interface RowChange {
  readonly table: string;
  readonly op: 'insert' | 'update' | 'delete' | 'truncate' | 'statement';
  /** The row's key (primary key or replica identity) as column -> value; empty when it has none. */
  readonly key: Readonly<Record<string, string | null>>;
  /**
   * insert: every column's new value; update: the changed columns, old and new, when the log
   * holds the old row, else every non-key column's new value; delete: the old values the log holds.
   */
  readonly columns: readonly ColumnChange[];
  /**
   * What the log does not hold for this row, as one sentence, the same for every row of a table
   * (PostgreSQL: the old values of an UPDATE under `REPLICA IDENTITY DEFAULT`).
   */
  readonly missing?: string;
  /** `statement`: its text (DDL); `truncate`: the options. */
  readonly text?: string;
}

export interface TransactionReader {
  /** The precision of the source's commit times; `log` prints them no finer. */
  readonly commitTimeResolution: 'second' | 'millisecond' | 'microsecond';
  /** Reference, counts and kind of one stored transaction part. */
  summarize(part: Transaction): PartSummary;
  /** The row changes of one stored transaction part, in log order. */
  changes(part: Transaction): Iterable<RowChange>;
  /**
   * Reads a reference a user typed: the position of the transaction it names, and the reference
   * in the form `summarize` gives (the core compares the two to be sure the transaction stored
   * at that position is the one named). Throws a UsageError, one sentence with an example, for
   * text that is not a reference of this driver.
   */
  parseReference(text: string): { readonly position: Position; readonly ref: string };
}
