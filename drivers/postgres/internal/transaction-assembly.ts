/**
 * Turns pgoutput messages into the change log's items: Begin..Commit into Transaction parts
 * (payload.ts builds them, the driver helpers' PartSpool holds them until the Commit tells their
 * position), keepalives into Heartbeats. State that outlives a session lives here too: the
 * relations described so far and the last position yielded, so that what a new session sends
 * again is received and dropped.
 *
 * Why a Heartbeat at max(keepalive walEnd, last yielded) is true: the walsender sets walEnd to
 * `sentPtr`, the end of the last WAL record it decoded, and decodes a transaction completely (its
 * whole output written to the socket) when it reads the commit record, before moving sentPtr past
 * it. TCP keeps order, and we handle events strictly in arrival order, yielding each transaction
 * before looking at the next event. So when we handle a keepalive outside Begin..Commit, every
 * transaction whose commit record ends at or before walEnd has been yielded. The session asks for
 * a keepalive when idle (change-log-session.ts), so they come at least every heartbeatMs / 2.
 */
import type { LagReporter } from '../../../src/driver/lag-report.js';
import { PartSpool, type SpooledPart } from '../../../src/driver/part-spool.js';
import type { Heartbeat, Transaction } from '../../../src/driver/source-driver.js';
import { SourceError } from '../../../src/util/errors.js';
import { PayloadBuilder, type Relation } from './payload.js';
import type { PgOutputMessage } from './pgoutput.js';
import { encodePosition } from './position.js';
import { ReplicationDecodeError } from './replication.js';

export const PART_MAX_BYTES = 8 * 1024 * 1024;
export const PART_MAX_CHANGES = 10_000;

interface OpenTx {
  readonly xid: number;
  readonly commitTime: bigint;
  /** Already yielded before a reconnect: receive and drop. */
  readonly duplicate: boolean;
  builder: PayloadBuilder;
  part: number;
}

export class TransactionAssembler {
  private readonly relations = new Map<number, Relation>();
  private readonly spool = new PartSpool();
  private tx: OpenTx | undefined;
  private lastYielded: bigint;
  private lastHeartbeat = 0n;

  constructor(
    start: bigint,
    private readonly on: {
      /** Progress of yielded commits and heartbeats. */
      readonly lag: LagReporter;
      /** Every Commit seen, duplicates included (the source is not idle). */
      readonly commit: () => void;
    },
  ) {
    this.lastYielded = start;
  }

  /** The Heartbeat a keepalive proves, or none inside a transaction. */
  keepalive(walEnd: bigint, serverTime: bigint): Heartbeat | undefined {
    if (this.tx) return undefined; // mid-transaction: the coverage claim would be about an unfinished commit
    let pos = walEnd > this.lastYielded ? walEnd : this.lastYielded;
    if (pos < this.lastHeartbeat) pos = this.lastHeartbeat;
    this.lastHeartbeat = pos;
    this.on.lag.caughtUp(encodePosition(pos));
    return { kind: 'heartbeat', position: encodePosition(pos), serverTime };
  }

  /** Takes one message; yields the transaction's parts at its Commit. */
  async *message(m: PgOutputMessage, serverTime: bigint): AsyncGenerator<Transaction> {
    try {
      yield* this.take(m, serverTime);
    } catch (err) {
      // spool I/O keeps its errno code (ENOSPC: retried); anything else turning messages into
      // parts is a decoding bug that would repeat on the same bytes
      const errno = typeof (err as { code?: unknown }).code === 'string';
      throw errno || err instanceof SourceError ? err : new ReplicationDecodeError(err);
    }
  }

  /** The session ended: a transaction it left open is sent again by the next one. */
  async abandon(): Promise<void> {
    this.tx = undefined;
    await this.spool.clear();
  }

  private async *take(m: PgOutputMessage, serverTime: bigint): AsyncGenerator<Transaction> {
    const tx = this.tx;
    switch (m.tag) {
      case 'begin':
        await this.spool.clear();
        this.tx = {
          xid: m.xid,
          commitTime: m.commitTime,
          // positions are commit END LSNs; a commit starting before the last yielded end was yielded
          duplicate: m.finalLsn < this.lastYielded,
          builder: new PayloadBuilder(m.xid, 0, this.relations),
          part: 0,
        };
        return;
      case 'relation':
        this.relations.set(m.relationId, m);
        tx?.builder.invalidate(m.relationId);
        return;
      case 'type':
        tx?.builder.type(m.typeOid, m.namespace, m.name);
        return;
      case 'origin':
        return;
      case 'commit': {
        if (!tx) throw new SourceError('pgoutput sent Commit without Begin.');
        this.on.commit();
        this.tx = undefined;
        if (tx.duplicate || m.endLsn <= this.lastYielded) return;
        await this.spool.add(partOf(tx));
        yield* this.spool.transactions(encodePosition(m.endLsn), tx.commitTime);
        this.lastYielded = m.endLsn;
        this.on.lag.committed(encodePosition(m.endLsn), Number(serverTime - tx.commitTime) / 1e6);
        return;
      }
      default:
        // a non-transactional message of another application belongs to no transaction
        if (!tx) {
          if (m.tag === 'message' && !m.transactional) return;
          throw new SourceError(`pgoutput sent a ${m.tag} message outside a transaction.`);
        }
        if (tx.duplicate) return;
        tx.builder.add(m);
        if (tx.builder.bytes >= PART_MAX_BYTES || tx.builder.changes >= PART_MAX_CHANGES) {
          await this.spool.add(partOf(tx));
          tx.builder = new PayloadBuilder(tx.xid, ++tx.part, this.relations);
        }
    }
  }
}

function partOf(tx: OpenTx): SpooledPart {
  return {
    payload: tx.builder.finish(),
    changes: tx.builder.changes,
    tables: [...tx.builder.tables],
    ...(tx.builder.schemaChange ? { schemaChange: true } : {}),
  };
}
