/**
 * Replaying stored transactions on the target: each record's writes (internal/writes.ts) as
 * `update`, `delete` and DDL commands, the documents' bytes sent unchanged (internal/raw-command.ts).
 * A multi-document transaction of the source (payload header `lsid`) is applied in one target
 * transaction, its parts included, when the target has transactions (a replica set) and it
 * changes only documents; otherwise its writes run one after the other (nothing else writes to a
 * target while it is restored, and an interrupted restore says the target must not be used).
 * Writes bypass document validation: the source already accepted these documents.
 */
import { BSON, type ClientSession, type Db, type MongoClient } from 'mongodb';
import type { Transaction } from '../../src/driver/source-driver.js';
import { RestoreRefusedError, SourceError } from '../../src/util/errors.js';
import { mongoError, serverCode, type MongoEndpoint } from './internal/connection.js';
import { decodePayload, type ChangeRecord } from './internal/payload.js';
import { rawSequence } from './internal/raw-command.js';
import { writesOf, type WriteOp } from './internal/writes.js';

/**
 * Whether a --tables restore of collections `tables` replays record `r` (of source database
 * `sourceDb`): changes of its collections, and a dropDatabase, yes; others' not. A rename that
 * moves documents across the edge of the selection cannot be followed (later changes under the
 * new name are not selected, or the documents brought in were never loaded): the reason, one
 * sentence, to refuse with.
 */
export function selectRecord(
  r: ChangeRecord,
  sourceDb: string,
  tables: ReadonlySet<string>,
): boolean | string {
  if (r.op !== 'rename') return r.coll === undefined || tables.has(r.coll);
  const from = r.db === undefined || r.db === sourceDb ? r.coll : undefined;
  const to = r.toDb === undefined || r.toDb === sourceDb ? r.toColl : undefined;
  const fromIn = from !== undefined && tables.has(from);
  const toIn = to !== undefined && tables.has(to);
  const at = `at cluster time ${r.ct.t}.${r.ct.i}`;
  const fix = 'restore without --tables, or to a time before the rename';
  if (fromIn && to !== undefined && !toIn)
    return `Collection ${from}, which --tables restores, was renamed to ${to} ${at}, which it does not restore, so its later changes would be left out; ${fix}.`;
  if (!fromIn && toIn)
    return `Collection ${r.db && r.db !== sourceDb ? `${r.db}.` : ''}${r.coll ?? '?'}, which --tables does not restore, was renamed to ${to} ${at}, bringing documents this restore never loaded; ${fix}.`;
  return fromIn;
}

export class MongoApplier {
  private session: ClientSession | undefined;

  constructor(
    private readonly client: MongoClient,
    private readonly ep: MongoEndpoint,
    private readonly transactions: boolean,
  ) {}

  private get db(): Db {
    return this.client.db(this.ep.database);
  }

  /** The writes of one part, restricted to `tables` (collection names) when given. */
  writesOfPart(
    tx: Transaction,
    keep?: (r: ChangeRecord, sourceDb: string) => boolean,
  ): { ops: WriteOp[]; inTransaction: boolean } {
    const { header, records } = decodePayload(tx.payload);
    const ops = records
      .filter((r) => !keep || keep(r, header.db))
      .flatMap((r) => writesOf(r, { sourceDb: header.db, targetDb: this.ep.database }));
    return { ops, inTransaction: header.lsid !== undefined };
  }

  async apply(tx: Transaction, opts?: { tables?: ReadonlySet<string> }): Promise<void> {
    const tables = opts?.tables;
    const { ops, inTransaction } = this.writesOfPart(
      tx,
      tables
        ? (r, sourceDb) => {
            const chosen = selectRecord(r, sourceDb, tables);
            if (typeof chosen === 'string') throw new RestoreRefusedError(chosen);
            return chosen;
          }
        : undefined,
    );
    const atomic =
      this.transactions && inTransaction && ops.every((o) => o.kind === 'update' || o.kind === 'delete');
    if (atomic && !this.session) {
      this.session = this.client.startSession();
      this.session.startTransaction({ writeConcern: { w: 'majority' } });
    }
    try {
      for (const op of ops) await this.run(op, atomic ? this.session : undefined);
      if (this.session && !tx.more) {
        const s = this.session;
        this.session = undefined;
        await s.commitTransaction();
        await s.endSession();
      }
    } catch (err) {
      const s = this.session;
      this.session = undefined;
      await s?.abortTransaction().catch(() => undefined);
      await s?.endSession().catch(() => undefined);
      throw err;
    }
  }

  /** Runs one write; a DDL command whose effect is already there (its ignore codes) is fine. */
  async run(op: WriteOp, session?: ClientSession): Promise<void> {
    if (op.kind === 'unsupported') throw new SourceError(op.message);
    const o = session ? { session } : {};
    try {
      if (op.kind === 'update') {
        const reply = await this.db.command(
          {
            update: op.coll,
            updates: rawSequence('updates', op.statements),
            ordered: true,
            bypassDocumentValidation: true,
          },
          o,
        );
        checkWriteErrors(reply, `replaying updates of ${op.coll}`, this.ep);
        return;
      }
      if (op.kind === 'delete') {
        const reply = await this.db.command(
          { delete: op.coll, deletes: rawSequence('deletes', op.statements), ordered: true },
          o,
        );
        checkWriteErrors(reply, `replaying deletes of ${op.coll}`, this.ep);
        return;
      }
      const cmd = BSON.deserialize(op.command, { promoteValues: false, bsonRegExp: true });
      await (op.db === 'admin' ? this.client.db('admin') : this.db).command(cmd, o);
    } catch (err) {
      if (op.kind !== 'command') throw mongoError(err, this.ep, 'Replaying the change log failed on');
      const code = serverCode(err);
      if (code !== undefined && op.ignoreCodes?.includes(code)) return;
      throw mongoError(err, this.ep, `Replaying ${op.what} failed on`);
    }
  }

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    await s?.abortTransaction().catch(() => undefined);
    await s?.endSession().catch(() => undefined);
  }
}

export function checkWriteErrors(
  reply: Record<string, unknown>,
  what: string,
  ep: MongoEndpoint,
  ignore: readonly number[] = [],
): number {
  const errors = (reply.writeErrors as Array<{ code?: number; errmsg?: string }> | undefined) ?? [];
  const real = errors.filter((e) => !ignore.includes(Number(e.code)));
  if (real.length)
    throw new SourceError(
      `${what[0]?.toUpperCase()}${what.slice(1)} on ${ep.display} failed for ${real.length} document(s), e.g. "${real[0]?.errmsg ?? 'unknown error'}" (code ${String(real[0]?.code)}).`,
      { source: ep.display },
    );
  return errors.length - real.length;
}
