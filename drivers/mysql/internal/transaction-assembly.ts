/**
 * Turns decoded binlog events (binlog/types.ts) into the change log's items: the transactions of
 * the source database as Transaction parts (payload.ts builds them, the driver helpers' PartSpool
 * holds them until the commit event tells their position), and Heartbeats. State that outlives a
 * session lives here too: the current binlog file, the GTID state, and the last position handed
 * on, so that what a new session sends again is dropped.
 *
 * Transactions in the binlog:
 *   MariaDB  GTID [BEGIN is implied] TABLE_MAP ROWS… XID            transactional
 *            GTID TABLE_MAP ROWS… QUERY "COMMIT"                     non-transactional
 *            GTID(standalone) QUERY <DDL>                            DDL, one statement
 *   MySQL    GTID|ANONYMOUS_GTID QUERY "BEGIN" TABLE_MAP ROWS… XID|QUERY "COMMIT"
 *            GTID|ANONYMOUS_GTID QUERY <DDL>
 * A group that ends in QUERY "ROLLBACK" (a rollback of a transaction that also changed a
 * non-transactional table) is dropped: its rows did not happen on transactional tables, and the
 * non-transactional ones are logged in a group of their own under binlog_format=ROW.
 * A transaction never spans binlog files; a FORMAT_DESCRIPTION (the server restarted) abandons
 * one left open by a crash.
 *
 * Which transactions are yielded: those with rows of the source database, or DDL acting on it
 * (a statement's tables, qualified or under its default database; a statement naming no table
 * belongs when its default database is the source's), and the stream's own idle markers (a row of
 * crmb.heartbeat keyed by this source's name) as 0-change internal transactions. Every other
 * transaction of the server is skipped; positions past them are covered by the next transaction
 * or heartbeat.
 *
 * Position: the commit event's end (header.nextPosition) in the current file, with the GTID state
 * after the transaction. Commit time: MySQL's original_commit_timestamp when the GTID event has
 * it (µs). Otherwise (MariaDB 10.11 logs no commit time with µs: event timestamps are whole
 * seconds, of the statement's start; a QUERY event's µs status variable is that statement's start
 * too, and only present when the statement used µs), the commit event's header timestamp in whole
 * seconds × 1e6, raised to the previous transaction's when the log goes back in time (a
 * transaction committed after the one before it, whose statement started later). So a
 * transaction belongs to `restore --at T` exactly when its commit second is at or before T
 * truncated to the second.
 *
 * Heartbeats: the server sends a HEARTBEAT event with its binlog file and position whenever it has
 * sent nothing for @master_heartbeat_period; having handled every event before it in order, every
 * transaction whose commit event ends at or before that position has been yielded. Inside an open
 * transaction no heartbeat is given.
 */
import type { LagReporter } from '../../../src/driver/lag-report.js';
import { PartSpool } from '../../../src/driver/part-spool.js';
import type { ChangeLogItem, Heartbeat, Transaction } from '../../../src/driver/source-driver.js';
import type { BinlogEvent, ColumnValue, QueryEvent, RowsEvent, TableMapEvent } from '../binlog/types.js';
import { SourceError } from '../../../src/util/errors.js';
import { GtidState } from './gtid-state.js';
import { MARKER_DATABASE, MARKER_TABLE } from './markers.js';
import { PayloadBuilder, type PayloadTable } from './payload.js';
import { comparePositions, formatPosition, type BinlogPosition } from './position.js';
import { isTransactionControl, statementTables } from './statements.js';

export const PART_MAX_BYTES = 8 * 1024 * 1024;
export const PART_MAX_CHANGES = 10_000;
/** sql_mode bit of ANSI_QUOTES. */
const ANSI_QUOTES = 4n;
/** Rows event flag: the session had foreign_key_checks=0 (nothing it changed cascaded). */
const NO_FOREIGN_KEY_CHECKS_F = 2;

interface OpenTx {
  readonly gtid: string;
  /** MySQL original_commit_timestamp, µs. */
  readonly commitMicros: bigint | undefined;
  /** Statements after this belong to the transaction (BEGIN seen, or MariaDB's GTID implies it). */
  began: boolean;
  marker: boolean;
  /** An XA transaction (prepared, committed later in a group of its own): not replayable yet. */
  xa: boolean;
  builder: PayloadBuilder;
  part: number;
  spooled: boolean;
}

export interface AssemblerOptions {
  /** The source database: only its rows and DDL are kept. */
  readonly database: string;
  /** The stream's name, the key of its marker row. */
  readonly sourceName: string;
  readonly lag: LagReporter;
  /** Every transaction seen committing on the server (the source is not idle). */
  readonly commit: () => void;
}

export class TransactionAssembler {
  private readonly spool = new PartSpool();
  private readonly tables = new WeakMap<TableMapEvent, PayloadTable>();
  private readonly gtids: GtidState;
  private readonly markerKey: Buffer;
  private file: string;
  private tx: OpenTx | undefined;
  private lastYielded: string;
  /** End of the last transaction seen (yielded or skipped): where a new session resumes. */
  private boundary: BinlogPosition;
  private lastCommitTime = 0n;
  private lastHeartbeat: string | undefined;

  constructor(
    start: BinlogPosition,
    private readonly o: AssemblerOptions,
  ) {
    this.file = start.file;
    this.gtids = new GtidState(start.gtids);
    this.boundary = start;
    this.lastYielded = formatPosition(start);
    this.markerKey = Buffer.from(o.sourceName, 'utf8');
  }

  /** Where a new session starts so that nothing after what was handed on is lost. */
  get resumeFrom(): BinlogPosition {
    return this.boundary;
  }

  /** The session ended: a transaction it left open is sent again by the next one. */
  async abandon(): Promise<void> {
    this.tx = undefined;
    await this.spool.clear();
  }

  /** Takes one event; yields a transaction's parts at its commit, and heartbeats. */
  async *event(ev: BinlogEvent): AsyncGenerator<ChangeLogItem> {
    switch (ev.kind) {
      case 'rotate':
        // a transaction never spans files: one open here was cut off
        if (this.tx) await this.abandon();
        this.file = ev.nextFile;
        if (
          comparePositions(
            formatPosition({ file: this.file, offset: Number(ev.nextPosition) }),
            formatPosition(this.boundary),
          ) > 0
        )
          this.boundary = { file: this.file, offset: Number(ev.nextPosition), gtids: this.gtids.toString() };
        return;
      case 'format-description':
        if (this.tx) await this.abandon();
        return;
      case 'gtid-list':
        this.gtids.reset(ev.gtids);
        return;
      case 'gtid':
        await this.begin(
          ev.gtid,
          ev.originalCommitMicros ?? ev.immediateCommitMicros,
          ev.flavor === 'mariadb' && !ev.standalone,
        );
        if (ev.xa && this.tx) this.tx.xa = true;
        this.gtids.add(ev.gtid);
        return;
      case 'query':
        yield* this.query(ev);
        return;
      case 'rows':
        if (!this.tx) await this.begin('', undefined, true);
        await this.rows(ev);
        return;
      case 'xid':
        yield* this.commit(ev.header.timestamp, ev.header.nextPosition);
        return;
      case 'heartbeat': {
        const h = this.heartbeat(ev.logFile, ev.header.nextPosition);
        if (h) yield h;
        return;
      }
      default:
        return;
    }
  }

  private async begin(gtid: string, commitMicros: bigint | undefined, began: boolean): Promise<void> {
    if (this.tx) await this.abandon();
    await this.spool.clear();
    this.tx = {
      gtid,
      commitMicros,
      began,
      marker: false,
      xa: false,
      builder: this.builder(gtid, 0),
      part: 0,
      spooled: false,
    };
  }

  private builder(gtid: string, part: number): PayloadBuilder {
    return new PayloadBuilder({ database: this.o.database, gtid, part, internal: false });
  }

  private async *query(ev: QueryEvent): AsyncGenerator<Transaction> {
    const sql = ev.sql.trim();
    const word = sql.slice(0, 9).toUpperCase();
    if (word.startsWith('BEGIN')) {
      if (!this.tx) await this.begin('', undefined, true);
      else this.tx.began = true;
      return;
    }
    if (word === 'COMMIT' || word.startsWith('COMMIT ') || word.startsWith('COMMIT;')) {
      yield* this.commit(ev.header.timestamp, ev.header.nextPosition);
      return;
    }
    if (/^ROLLBACK\s*(?:;|$|WORK\b)/i.test(sql)) {
      // rolled back: none of it happened (the position is past it all the same)
      await this.abandon();
      this.advance(ev.header.nextPosition);
      return;
    }
    if (/^XA\s+(?:START|BEGIN)\b/i.test(sql)) {
      if (!this.tx) await this.begin('', undefined, true);
      this.tx!.began = true;
      this.tx!.xa = true;
      return;
    }
    if (isTransactionControl(sql)) {
      // a group of its own that changes nothing (XA COMMIT of a prepared transaction): over here
      if (this.tx && !this.tx.began) {
        await this.abandon();
        this.advance(ev.header.nextPosition);
      }
      return;
    }
    if (!this.tx) await this.begin('', undefined, false);
    const tx = this.tx!;
    const ansi = ev.sqlMode !== undefined && (ev.sqlMode & ANSI_QUOTES) !== 0n;
    const names = statementTables(ev.sql, ev.database, ansi);
    const prefix = `${this.o.database}.`;
    const ours = names.filter((n) => n.startsWith(prefix));
    if (ours.length || (!names.length && ev.database === this.o.database)) {
      tx.builder.statement({
        database: ev.database,
        sql: ev.sql,
        sqlMode: ev.sqlMode ?? null,
        timeZone: ev.timeZone ?? null,
        charset: ev.charset ?? null,
        tables: ours,
      });
    }
    // a statement outside BEGIN … COMMIT is a transaction of its own
    if (!tx.began) yield* this.commit(ev.header.timestamp, ev.header.nextPosition);
  }

  private table(t: TableMapEvent): PayloadTable {
    let p = this.tables.get(t);
    if (!p) {
      p = {
        database: t.database,
        table: t.table,
        columns: t.columns.map((c) => ({
          name: c.name ?? '',
          type: c.type,
          meta: c.meta,
          unsigned: c.unsigned === true,
          collation: c.collation ?? null,
        })),
        primaryKey: t.primaryKey ? [...t.primaryKey] : null,
      };
      this.tables.set(t, p);
    }
    return p;
  }

  private isOwnMarker(t: TableMapEvent, row: readonly ColumnValue[] | undefined): boolean {
    const key = row?.[0];
    return Buffer.isBuffer(key) && key.equals(this.markerKey) && t.table === MARKER_TABLE;
  }

  private async rows(ev: RowsEvent): Promise<void> {
    const tx = this.tx!;
    const t = ev.table;
    if (t.database === MARKER_DATABASE) {
      if (ev.rows.some((r) => this.isOwnMarker(t, r.after ?? r.before))) tx.marker = true;
      return;
    }
    if (t.database !== this.o.database) return;
    if (tx.xa) {
      // its rows come in the XA PREPARE group and its outcome in another: refused, never lost
      throw new SourceError(
        `The binlog holds an XA transaction${tx.gtid ? ` (GTID ${tx.gtid})` : ''} that changes ${t.database}.${t.table}, which the MySQL/MariaDB change log cannot replay yet; the log stops here rather than leave it out (take a new snapshot after it, and avoid XA transactions on this database).`,
      );
    }
    const p = this.table(t);
    // one flag for the event's rows: told to its builder, and to the next part's
    const fk = ((ev.flags ?? 0) & NO_FOREIGN_KEY_CHECKS_F) === 0;
    tx.builder.foreignKeyChecks(fk);
    for (const r of ev.rows) {
      if (ev.operation === 'insert') tx.builder.insert(p, r.after ?? []);
      else if (ev.operation === 'update') tx.builder.update(p, r.before ?? [], r.after ?? []);
      else tx.builder.delete(p, r.before ?? []);
      if (tx.builder.bytes >= PART_MAX_BYTES || tx.builder.changes >= PART_MAX_CHANGES) {
        await this.spool.add(partOf(tx.builder));
        tx.spooled = true;
        tx.builder = this.builder(tx.gtid, ++tx.part);
        tx.builder.foreignKeyChecks(fk);
      }
    }
  }

  private advance(nextPosition: number): void {
    this.boundary = { file: this.file, offset: nextPosition, gtids: this.gtids.toString() };
  }

  private async *commit(timestamp: number, nextPosition: number): AsyncGenerator<Transaction> {
    const tx = this.tx;
    this.tx = undefined;
    this.o.commit();
    this.advance(nextPosition);
    if (!tx) return;
    const keep = tx.spooled || !tx.builder.empty || tx.marker;
    let commitTime = tx.commitMicros ?? BigInt(timestamp) * 1_000_000n;
    if (commitTime < this.lastCommitTime) commitTime = this.lastCommitTime;
    this.lastCommitTime = commitTime;
    const position = formatPosition(this.boundary);
    if (!keep || comparePositions(position, this.lastYielded) <= 0) {
      await this.spool.clear();
      return;
    }
    // an idle marker alone: a part without changes that `log` hides
    const marker = tx.marker && !tx.spooled && tx.builder.empty;
    const builder = marker
      ? new PayloadBuilder({ database: this.o.database, gtid: tx.gtid, part: 0, internal: true })
      : tx.builder;
    await this.spool.add(partOf(builder));
    yield* this.spool.transactions(position, commitTime);
    this.lastYielded = position;
    this.o.lag.committed(position, (Date.now() * 1000 - Number(commitTime)) / 1e6);
  }

  private heartbeat(logFile: string, nextPosition: number): Heartbeat | undefined {
    if (this.tx) return undefined;
    let position =
      logFile && nextPosition
        ? formatPosition({ file: logFile, offset: nextPosition, gtids: this.gtids.toString() })
        : this.lastYielded;
    if (comparePositions(position, this.lastYielded) < 0) position = this.lastYielded;
    if (this.lastHeartbeat && comparePositions(position, this.lastHeartbeat) < 0)
      position = this.lastHeartbeat;
    this.lastHeartbeat = position;
    this.o.lag.caughtUp(position);
    return { kind: 'heartbeat', position, serverTime: BigInt(Date.now()) * 1000n };
  }
}

function partOf(builder: PayloadBuilder): { payload: Uint8Array; changes: number; tables: string[] } {
  return { payload: builder.finish(), changes: builder.changes, tables: [...builder.tables] };
}
