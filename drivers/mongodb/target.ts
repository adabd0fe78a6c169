/**
 * Restore target: an empty MongoDB database. The collections are created with their options
 * (capped, collation, clustered, time-series, TTL, validator) before the first load, once
 * `planLoads` has said which (all, or those a --tables restore names); `load` inserts each collection's
 * documents as the snapshot's bytes (`insert`, unordered, validation bypassed, batches of at most
 * 16 MiB); the snapshot's `$changes` stream is kept aside (a temporary file past its first part)
 * and replayed in post-data, before the secondary indexes are built and the views created; `apply`
 * replays the log (apply.ts). MongoDB has no triggers or foreign keys: nothing to switch off.
 */
import { BSON, type Document, type MongoClient } from 'mongodb';
import type { Finding } from '../../src/driver/finding.js';
import { PartSpool } from '../../src/driver/part-spool.js';
import type { Transaction } from '../../src/driver/source-driver.js';
import type {
  DroppedObjects,
  LoadOptions,
  LoadStats,
  PlannedLoad,
  TargetDriver,
} from '../../src/driver/target-driver.js';
import { AbortError, SourceError, throwIfAborted } from '../../src/util/errors.js';
import { checkWriteErrors, MongoApplier } from './apply.js';
import {
  asBinary,
  asBool,
  asInteger,
  asString,
  buildDocument,
  el,
  elements,
  field,
} from './internal/bson-raw.js';
import { connect, mongoError, serverCode, serverFacts, type MongoEndpoint } from './internal/connection.js';
import { batchesOf, documentsOf, LOAD_FORMAT } from './internal/load.js';
import { rawSequence } from './internal/raw-command.js';
import { privilegePlan, type UsersAndRoles } from './internal/users.js';
import { preflight } from './preflight.js';
import { decodeSchema, type CollectionSchema, type SchemaDocument } from './schema.js';
import { TAIL_FORMAT, TAIL_STREAM } from './snapshot.js';

/** E11000: a document with that _id is already there (a collection scan can meet one twice). */
const DUPLICATE_KEY = 11000;

const js = (raw: Uint8Array): Record<string, unknown> =>
  BSON.deserialize(raw, { promoteValues: false, bsonRegExp: true });

export class MongoTarget implements TargetDriver {
  readonly kind = 'mongodb';
  private client: MongoClient | undefined;
  private doc: SchemaDocument | undefined;
  private applier: MongoApplier | undefined;
  private readonly tail = new PartSpool();
  private readonly loaded = new Set<string>();
  /** The collections the planned loads fill (planLoads). */
  private planned: Set<string> | undefined;
  private creating: Promise<void> | undefined;
  private readonly notices: string[] = [];
  private reported = 0;

  constructor(private readonly ep: MongoEndpoint) {}

  private async conn(): Promise<MongoClient> {
    this.client ??= await connect(this.ep);
    return this.client;
  }

  private async getApplier(): Promise<MongoApplier> {
    if (!this.applier) {
      const client = await this.conn();
      const facts = await serverFacts(client);
      this.applier = new MongoApplier(client, this.ep, facts.topology !== 'standalone');
    }
    return this.applier;
  }

  async preflight(_opts: { replay: boolean }): Promise<Finding[]> {
    const client = await this.conn();
    return preflight(client, this.ep, await serverFacts(client), 'restore');
  }

  async assertEmpty(opts?: {
    clean?: boolean;
    schema?: Uint8Array;
    schemaFormat?: string;
  }): Promise<readonly DroppedObjects[]> {
    const db = (await this.conn()).db(this.ep.database);
    const present = (await db.listCollections({}, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((n) => !n.startsWith('system.'))
      .sort();
    if (!present.length) return [];
    const few = (names: string[]): string =>
      `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … (${names.length})` : ''}`;
    if (!opts?.clean)
      throw new SourceError(
        `Database ${this.ep.database} on ${this.ep.display} is not empty (collections ${few(present)}); restore into an empty database, or pass --clean to drop the collections the snapshot recreates.`,
        { source: this.ep.display },
      );
    const mine = new Set(
      opts.schema && opts.schemaFormat
        ? decodeSchema(opts.schema, opts.schemaFormat).collections.map((c) => c.name)
        : [],
    );
    const others = present.filter((n) => !mine.has(n));
    if (others.length)
      throw new SourceError(
        `--clean drops only what the restore recreates, and database ${this.ep.database} on ${this.ep.display} also holds collections ${few(others)}; drop them yourself or restore into another database.`,
        { source: this.ep.display },
      );
    for (const n of present) await db.collection(n).drop();
    return [{ kind: 'collection', names: present.map((n) => `${this.ep.database}.${n}`) }];
  }

  async createSchema(schema: Uint8Array, format: string, phase: 'pre-data' | 'post-data'): Promise<void> {
    const doc = decodeSchema(schema, format);
    this.doc = doc;
    const db = (await this.conn()).db(this.ep.database);
    // the collections are created once the loads are planned: a --tables restore creates only its own
    if (phase === 'pre-data') return;
    await this.createCollections();
    await this.replayTail();
    for (const c of this.restored(doc)) {
      const specs = c.indexes
        .filter((i) => asString(field(i, 'name')) !== '_id_' && !asBool(field(i, 'clustered')))
        .map((i) => js(buildDocument([...elements(i)].filter((e) => e.name !== 'ns'))));
      if (!specs.length) continue;
      try {
        await db.command({ createIndexes: c.name, indexes: specs });
      } catch (err) {
        throw mongoError(err, this.ep, `Building the indexes of ${c.name} failed on`);
      }
    }
    // views last, in rounds: a view may read another view; a --tables restore restores none
    const views = doc.collections.filter((x) => x.type === 'view');
    if (this.subset && views.length)
      this.notices.push(
        `Views ${views.map((v) => v.name).join(', ')} were not restored: a --tables restore restores the collections it names only.`,
      );
    let pending = this.subset ? [] : views;
    const errors = new Map<string, string>();
    while (pending.length) {
      const next: CollectionSchema[] = [];
      for (const v of pending) {
        try {
          await this.create(v);
        } catch (err) {
          errors.set(v.name, (err as Error).message);
          next.push(v);
        }
      }
      if (next.length === pending.length) break;
      pending = next;
    }
    for (const v of pending)
      this.notices.push(`View ${v.name} was not restored: ${errors.get(v.name) ?? 'unknown error'}`);
    if (doc.privileges) await this.restorePrivileges(doc.privileges, doc.db);
  }

  /** The snapshot's users and roles (--with-privileges), those already in the target left alone. */
  private async restorePrivileges(stored: UsersAndRoles, from: string): Promise<void> {
    const client = await this.conn();
    const db = client.db(this.ep.database);
    const to = this.ep.database;
    try {
      const users = await db.command({ usersInfo: 1 });
      const roles = await db.command({ rolesInfo: 1, showBuiltinRoles: false });
      const plan = privilegePlan(stored, from, to, {
        users: new Set(((users.users as Document[]) ?? []).map((u) => String(u.user))),
        roles: new Set(((roles.roles as Document[]) ?? []).map((r) => String(r.role))),
      });
      for (const r of plan.roles) await db.command(r);
      if (plan.users.length) {
        const names = plan.users.map((u) => String(u.user)).join(', ');
        // the server's text may quote the documents it refused, credentials included: only its code
        const reply = await client
          .db('admin')
          .command({ insert: 'system.users', documents: [...plan.users], ordered: true })
          .catch((err: unknown) => {
            throw new SourceError(
              `Restoring users ${names} into ${this.ep.display} failed (code ${String(serverCode(err) ?? 'unknown')}): it inserts them into admin.system.users with their stored credentials, which needs the restore role on the target.`,
              { source: this.ep.display },
            );
          });
        const failed = (reply.writeErrors as Array<{ code?: number }> | undefined)?.[0];
        if (failed)
          throw new SourceError(
            `Restoring users ${names} into ${this.ep.display} failed (code ${String(failed.code)}) while inserting them into admin.system.users.`,
            { source: this.ep.display },
          );
      }
      this.notices.push(...plan.notices);
    } catch (err) {
      // the server's message names the user or role at most, never a credential
      throw mongoError(err, this.ep, `Restoring the users and roles of database ${to} failed on`);
    }
  }

  private async create(c: CollectionSchema): Promise<void> {
    const cmd = buildDocument([el.string('create', c.name), ...(c.options ? elements(c.options) : [])]);
    try {
      await (await this.conn()).db(this.ep.database).command(js(cmd));
    } catch (err) {
      throw mongoError(err, this.ep, `Creating ${c.type} ${c.name} failed on`);
    }
  }

  /**
   * The collections this restore loads: all of the snapshot's, or those a --tables restore names.
   * A snapshot always has its change tail (snapshot.ts), which every selection loads
   * (names.ts `partOfEverySelection`); without it the collections would be restored as the
   * snapshot happened to read them, not as of one instant, so a plan without it is refused.
   */
  planLoads(streams: readonly PlannedLoad[]): void {
    if (!streams.some((s) => s.name === TAIL_STREAM))
      throw new SourceError(
        'This MongoDB snapshot has no $changes stream (the changes recorded while it was read), without which it cannot be restored to one instant; take a new snapshot.',
      );
    this.planned = new Set(
      streams.filter((s) => s.name !== TAIL_STREAM).map((s) => this.collectionOf(s.name)),
    );
  }

  /** The collection a stream loads: its name, or a split part's (`contacts#2`) without the suffix. */
  private collectionOf(stream: string): string {
    const known = new Set(this.doc?.collections.map((c) => c.name));
    return known.has(stream) ? stream : stream.replace(/#\d+$/, '');
  }

  /** Whether this restore leaves out some of the snapshot's collections (--tables). */
  private get subset(): boolean {
    const planned = this.planned;
    return (
      planned !== undefined &&
      (this.doc?.collections ?? []).some((c) => c.type !== 'view' && !planned.has(c.name))
    );
  }

  /** The snapshot's collections (not views) this restore creates. */
  private restored(doc: SchemaDocument): CollectionSchema[] {
    const planned = this.planned;
    return doc.collections.filter((c) => c.type !== 'view' && (!planned || planned.has(c.name)));
  }

  /** Creates the restored collections with their options, once, before the first load. */
  private createCollections(): Promise<void> {
    this.creating ??= (async () => {
      for (const c of this.doc ? this.restored(this.doc) : []) await this.create(c);
    })();
    return this.creating;
  }

  async load(
    name: string,
    format: string,
    data: AsyncIterable<Uint8Array>,
    opts?: LoadOptions,
  ): Promise<LoadStats> {
    throwIfAborted(opts?.signal);
    if (format === TAIL_FORMAT && name === TAIL_STREAM) {
      let bytes = 0;
      for await (const d of documentsOf(data)) {
        bytes += d.byteLength;
        await this.tail.add({ payload: d, changes: 0, tables: [] });
      }
      return { rows: 0, bytes };
    }
    if (format !== LOAD_FORMAT)
      throw new SourceError(`Stream "${name}" has format "${format}"; this driver loads "${LOAD_FORMAT}".`);
    const coll = this.collectionOf(name);
    await this.createCollections();
    const db = (await this.conn()).db(this.ep.database);
    let rows = 0;
    let bytes = 0;
    try {
      for await (const batch of batchesOf(documentsOf(data))) {
        throwIfAborted(opts?.signal);
        const reply = await db.command({
          insert: coll,
          documents: rawSequence('documents', batch),
          ordered: false,
          bypassDocumentValidation: true,
        });
        checkWriteErrors(reply, `loading collection ${coll}`, this.ep, [DUPLICATE_KEY]);
        rows += Number(reply.n ?? 0);
        for (const d of batch) bytes += d.byteLength;
      }
    } catch (err) {
      if (opts?.signal?.aborted) throw new AbortError('interrupted', { cause: err });
      throw mongoError(err, this.ep, `Loading collection ${coll} failed on`);
    }
    this.loaded.add(coll);
    return { rows, bytes };
  }

  /** The snapshot's tail, over the collections this restore loaded (and those it creates). */
  private async replayTail(): Promise<void> {
    const applier = await this.getApplier();
    const keep = new Set(this.loaded);
    const subset = this.subset;
    for await (const p of this.tail.parts()) {
      const stored = p.payload;
      const payload = asBinary(field(stored, 'payload'));
      if (!payload) throw new SourceError('A stored snapshot tail part has no payload.');
      const tx: Transaction = {
        position: asString(field(stored, 'position')) ?? '',
        commitTime: asInteger(field(stored, 'commitTime')) ?? 0n,
        payload,
        changes: Number(asInteger(field(stored, 'changes')) ?? 0n),
        more: asBool(field(stored, 'more')) ?? false,
      };
      const { ops } = applier.writesOfPart(tx, (r) => {
        // a collection created while the snapshot read: restored unless --tables left it out
        if (r.op === 'create' && r.coll !== undefined && !subset) keep.add(r.coll);
        if (r.op === 'rename' && r.coll !== undefined && keep.has(r.coll) && r.toColl !== undefined)
          keep.add(r.toColl);
        return r.coll === undefined || keep.has(r.coll);
      });
      for (const op of ops) await applier.run(op);
    }
    await this.tail.clear();
  }

  async apply(tx: Transaction, opts?: { tables?: ReadonlySet<string> }): Promise<void> {
    await (await this.getApplier()).apply(tx, opts);
  }

  warnings(): readonly string[] {
    this.reported = this.notices.length;
    return [...this.notices];
  }

  async finish(): Promise<readonly string[]> {
    return this.notices.slice(this.reported);
  }

  async close(): Promise<void> {
    await this.applier?.close().catch(() => undefined);
    this.applier = undefined;
    await this.tail.clear().catch(() => undefined);
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }
}
