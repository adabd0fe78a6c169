/**
 * Post-data work scheduled the way pg_restore -j does it. Index and key builds start as soon as
 * one table's data is in: the worker that loaded a table goes on to build that table's indexes
 * while the other workers still load. A foreign key starts as soon as both of its tables are
 * loaded and indexed, on whichever session is free: added NOT VALID, then validated, so that
 * checks of keys from different tables to one parent run side by side, while two checks on
 * one referencing table never do (see ForeignKey.run and #startable for the locks). A table's
 * primary and unique keys are built before its other indexes, and the keys that reference it
 * from complete tables are added right then by its builder (keyed), so that their checks run on
 * other sessions while its slower indexes (a GIN on jsonb) build.
 * What no loaded table claims (partitioned parents and their attachments, tables restored
 * without data, keys to them) stays for the post-data phase, in dump order. So do the builds,
 * statistics and keys of a table whose load ends when no other load is at work and none is left
 * to start (LoadPlan): post-data spreads them over every session instead of one running them
 * while the others sit idle.
 */
import { dumpEntries, sqlOf } from '../schema.js';

/**
 * The loads the core announced (TargetDriver.planLoads), and which of them have started. Without
 * a plan a target cannot know a load is among the last, and assumes more follow.
 */
export class LoadPlan {
  readonly #waiting: Set<string>;

  constructor(names: readonly string[]) {
    this.#waiting = new Set(names);
  }

  /** A load of `name` started (call it before the load's first await). */
  started(name: string): void {
    this.#waiting.delete(name);
  }

  /** Whether a planned load has not started yet. */
  more(): boolean {
    return this.#waiting.size > 0;
  }
}

/** `public."Kunden Übersicht"` -> `public.Kunden Übersicht` (the form stream names use). */
const QUALIFIED = /^((?:"(?:[^"]|"")*"|[^\s."]+))\.((?:"(?:[^"]|"")*"|[^\s."(]+))/;
const CREATE_INDEX = /CREATE (?:UNIQUE )?INDEX \S+ ON (?!ONLY )(.+)$/m;
const ALTER_TABLE = /ALTER TABLE ONLY (.+)$/m;
const REFERENCES = /\bFOREIGN KEY \(.*?\) REFERENCES (.+)$/m;
const ADD_CONSTRAINT = /\bADD CONSTRAINT ("(?:[^"]|"")*"|[^\s"]+) FOREIGN KEY /;

/** Entry types built side by side; the others run in dump order (pg_restore's post-data split). */
const PARALLEL_TYPES = new Set(['INDEX', 'CONSTRAINT']);

function unquote(id: string): string {
  return id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id;
}

function qualified(text: string | undefined): string | undefined {
  const m = text ? QUALIFIED.exec(text) : null;
  return m?.[1] && m[2] ? `${unquote(m[1])}.${unquote(m[2])}` : undefined;
}

/** The table a CREATE INDEX / ADD CONSTRAINT entry builds on, or undefined when it cannot run early. */
export function tableOfEntry(sql: string): string | undefined {
  return qualified((CREATE_INDEX.exec(sql) ?? ALTER_TABLE.exec(sql))?.[1]);
}

/**
 * Work on one or two tables scheduled around their locks: a foreign key's check, or the ANALYZE
 * of a table whose statistics were left to post-data (child = parent = that table).
 */
export interface ForeignKey {
  /**
   * `key`: added NOT VALID, then validated; `validate`: a key its referenced table's builder
   * already added (EarlyBuilds.keyed), left to validate; `statistics`: an ANALYZE.
   */
  readonly kind: 'key' | 'validate' | 'statistics';
  /** The constraint's name as the dump quotes it (the table's, for statistics). */
  readonly name: string;
  /** The dump's entry, as the post-data script would run it. */
  readonly sql: string;
  /**
   * What a scheduled run executes: the key added NOT VALID (a catalog change), then VALIDATE
   * CONSTRAINT, whose scan holds SHARE UPDATE EXCLUSIVE on the referencing table but only ROW
   * SHARE on the referenced one, so checks of keys from different tables to one parent (nearly
   * every key in a CRM points to users) run side by side, where a plain ADD (SHARE ROW EXCLUSIVE
   * on both, self-conflicting) would check them one at a time. The result is the same valid key.
   * Two statements, each its own transaction: the add's locks must be gone before the scan.
   */
  readonly run: readonly string[];
  /**
   * Statistics of a partitioned parent: its leaf partitions, all of which must be complete before
   * the ANALYZE samples them (until every load is done: then it runs whatever was loaded).
   */
  readonly after?: readonly string[];
  /** The referencing table and the referenced one (`schema.name`, unquoted). */
  readonly child: string;
  readonly parent: string;
  /** The referenced table as the dump quotes it, for SQL. */
  readonly parentSql: string;
  /** What the run does, for errors: `adding a foreign key from a to b`. */
  readonly what: string;
}

/** A foreign-key entry on a plain table (`ALTER TABLE ONLY … REFERENCES …`), or undefined. */
export function foreignKeyOf(sql: string): ForeignKey | undefined {
  const child = qualified(ALTER_TABLE.exec(sql)?.[1]);
  const references = REFERENCES.exec(sql)?.[1];
  const parent = qualified(references);
  const parentSql = references && QUALIFIED.exec(references)?.[0];
  const name = ADD_CONSTRAINT.exec(sql)?.[1];
  if (!child || !parent || !parentSql || !name) return undefined;
  return {
    kind: 'key',
    name,
    sql,
    child,
    parent,
    parentSql,
    run: addThenValidate(sql, name) ?? [sql],
    what: `adding a foreign key from ${child} to ${parent}`,
  };
}

/**
 * ANALYZE of one table, scheduled like a key check on it: SHARE UPDATE EXCLUSIVE conflicts with
 * another check's scan of the table and with a key add on either side of it.
 */
function statisticsOf(table: string, sql: string): ForeignKey {
  return {
    kind: 'statistics',
    name: table,
    sql: `${sql};\n`,
    run: [sql],
    child: table,
    parent: table,
    parentSql: '',
    what: `gathering statistics of ${table}`,
  };
}

/** [`ALTER … ADD CONSTRAINT c FOREIGN KEY … NOT VALID;`, `ALTER … VALIDATE CONSTRAINT c;`], or undefined. */
function addThenValidate(sql: string, name: string): string[] | undefined {
  // the statement without pg_dump's comment header (whose "Name: …; Type: …;" has semicolons)
  const text = sqlOf(sql)
    .split('\n')
    .filter((line) => !line.startsWith('--'))
    .join('\n')
    .trim();
  const table = ALTER_TABLE.exec(text)?.[1]?.trim();
  const statements = text.split(';').filter((s) => s.trim() !== '');
  // a key dumped NOT VALID stays unvalidated; anything but one plain statement runs as dumped
  if (!table || statements.length !== 1 || /\bNOT VALID\b/.test(text)) return undefined;
  return [text.replace(/;$/, ' NOT VALID;'), `ALTER TABLE ONLY ${table} VALIDATE CONSTRAINT ${name};`];
}

export class EarlyBuilds {
  readonly prelude: string;
  readonly #byTable = new Map<string, { type: string; sql: string }[]>();
  readonly #rest: string[] = [];
  /** Every entry that is not an index or key build, in dump order; keys run early are dropped. */
  readonly #ordered: { sql: string; fk?: ForeignKey }[] = [];
  readonly #loaded = new Set<string>();
  readonly #ready = new Set<string>();
  /** Loaded tables whose statistics are still to be gathered, and the ANALYZE that does it. */
  readonly #analyze = new Map<string, string>();
  /** Tables a running key check works on as the referencing side (they hold its scan's lock). */
  readonly #busy = new Set<string>();
  /** How many running key checks reference each table (their adds lock it briefly). */
  readonly #referenced = new Map<string, number>();
  #wake: (() => void) | undefined;
  /** Every load is done and its builds too (allLoadedReady). */
  #allLoaded = false;

  constructor(postData: string) {
    const [first, ...entries] = dumpEntries(sqlOf(postData));
    this.prelude = first?.type === '' ? first.sql : '';
    for (const { type, sql } of entries) {
      if (!PARALLEL_TYPES.has(type)) {
        this.#ordered.push({ sql, fk: type === 'FK CONSTRAINT' ? foreignKeyOf(sql) : undefined });
        continue;
      }
      const table = tableOfEntry(sql);
      if (table === undefined) this.#rest.push(sql);
      else this.#byTable.set(table, [...(this.#byTable.get(table) ?? []), { type, sql }]);
    }
  }

  /**
   * Data went into this table (a whole table, or one part of a split one) and its builds are left
   * to post-data; `analyze` gathers its statistics there, after them (an expression index gets
   * statistics of its own), unless the table is made ready before.
   */
  loaded(table: string, analyze?: string): void {
    this.#loaded.add(table);
    if (analyze !== undefined && !this.#ready.has(table)) this.#analyze.set(table, analyze);
  }

  /**
   * Takes the builds of one loaded table (each is handed out once): its constraints (primary key,
   * unique, exclusion) in `keys`, which run first so that keys referencing the table can be added
   * while its other indexes build (keyed), then its indexes in `rest`.
   */
  take(table: string): { keys: string[]; rest: string[] } {
    this.#loaded.add(table);
    const entries = this.#byTable.get(table) ?? [];
    this.#byTable.delete(table);
    return {
      keys: entries.filter((e) => e.type === 'CONSTRAINT').map((e) => e.sql),
      rest: entries.filter((e) => e.type !== 'CONSTRAINT').map((e) => e.sql),
    };
  }

  /**
   * The table's primary and unique keys are built; its other indexes are not yet. Returns the keys
   * that reference it from a table that is complete and free, for the caller (the session that
   * builds this table, between two builds, so that it holds no lock on it) to add NOT VALID:
   * the add needs SHARE ROW EXCLUSIVE on both tables, which an index build on either would block.
   * Each goes back with `added`, and its validation (ROW SHARE on this table only, which an index
   * build does not block) may then run on any free session while this table's indexes build.
   * The referencing tables are marked busy until then.
   */
  keyed(table: string): ForeignKey[] {
    const out: ForeignKey[] = [];
    for (let i = 0; i < this.#ordered.length; i++) {
      const fk = this.#ordered[i]?.fk;
      if (
        fk?.kind !== 'key' ||
        fk.run.length !== 2 ||
        fk.parent !== table ||
        fk.child === table ||
        !this.#ready.has(fk.child) ||
        this.#busy.has(fk.child)
      )
        continue;
      this.#ordered.splice(i--, 1);
      this.#busy.add(fk.child);
      out.push(fk);
    }
    return out;
  }

  /** A key from `keyed` was added NOT VALID: its validation is scheduled as any key check is. */
  added(fk: ForeignKey): void {
    const validate = fk.run[1] as string;
    this.#busy.delete(fk.child);
    this.#ordered.push({
      sql: `${validate}\n`,
      fk: { ...fk, kind: 'validate', sql: `${validate}\n`, run: [validate] },
    });
    this.#notify();
  }

  /** A key from `keyed` was not added (its add failed): it goes back to the post-data script. */
  notAdded(fk: ForeignKey): void {
    this.#busy.delete(fk.child);
    this.#ordered.push({ sql: fk.sql, fk });
    this.#notify();
  }

  /**
   * The statistics of a partitioned parent, gathered as soon as its leaf partitions are complete,
   * by whichever session is free then, or in post-data beside the keys (ANALYZE of a parent
   * samples every partition, which pg_restore never does; at the end of a restore it would run
   * alone). The parent has no data of its own: it never counts as loaded.
   */
  analyzeParent(table: string, leaves: readonly string[], sql: string): void {
    this.#ordered.push({ sql: `${sql};\n`, fk: { ...statisticsOf(table, sql), after: leaves } });
    this.#notify();
  }

  /** This table's data, indexes and statistics are complete: keys on it may be checked. */
  ready(table: string): void {
    this.#ready.add(table);
    this.#analyze.delete(table);
    this.#notify();
  }

  /** Everything not taken yet, for the post-data phase. */
  remaining(): string[] {
    const out = [...this.#rest, ...[...this.#byTable.values()].flat().map((e) => e.sql)];
    this.#rest.length = 0;
    this.#byTable.clear();
    return out;
  }

  /**
   * After the post-data builds: every loaded table is complete but for the statistics still to
   * gather, which run with the keys (after them in order: a key holds fewer sessions back).
   */
  allLoadedReady(): void {
    this.#allLoaded = true;
    for (const [table, sql] of this.#analyze)
      this.#ordered.push({ sql: `${sql};\n`, fk: statisticsOf(table, sql) });
    this.#analyze.clear();
    for (const t of this.#loaded) this.#ready.add(t);
    this.#notify();
  }

  /**
   * A foreign key whose two tables are ready and free, marked busy until `finished`; undefined
   * when none can start now.
   */
  nextForeignKey(): ForeignKey | undefined {
    const i = this.#ordered.findIndex(({ fk }) => fk !== undefined && this.#startable(fk));
    if (i < 0) return undefined;
    const fk = this.#ordered[i]!.fk!;
    this.#ordered.splice(i, 1);
    this.#busy.add(fk.child);
    if (fk.kind === 'key') this.#referenced.set(fk.parent, (this.#referenced.get(fk.parent) ?? 0) + 1);
    return fk;
  }

  finished(fk: ForeignKey): void {
    this.#busy.delete(fk.child);
    if (fk.kind === 'key') this.#referenced.set(fk.parent, (this.#referenced.get(fk.parent) ?? 1) - 1);
    this.#notify();
  }

  /** Foreign keys not started yet whose two tables are ready (a validation: whose referencing one is). */
  pendingForeignKeys(): number {
    return this.#ordered.filter(
      ({ fk }) =>
        fk &&
        (fk.kind === 'statistics'
          ? this.#partitionsReady(fk)
          : this.#ready.has(fk.child) && (fk.kind === 'validate' || this.#ready.has(fk.parent))),
    ).length;
  }

  /** Like nextForeignKey, but waits while the keys left that can run are blocked by running ones. */
  async waitForeignKey(): Promise<ForeignKey | undefined> {
    for (;;) {
      const fk = this.nextForeignKey();
      if (fk) return fk;
      if (this.pendingForeignKeys() === 0) return undefined;
      await new Promise<void>((resolve) => {
        const previous = this.#wake;
        this.#wake = () => {
          previous?.();
          resolve();
        };
      });
    }
  }

  /**
   * Keys not run yet from a table whose data is in to one whose data is not (left out of this
   * restore, or a partitioned parent, whose rows are in its partitions), which could be added NOT
   * VALID and validated later. They stay in the dump-order script unless `remove`d; so do keys
   * dumped NOT VALID, which check nothing when added.
   */
  keysToUnloaded(): ForeignKey[] {
    return this.#ordered
      .map((e) => e.fk)
      .filter(
        (fk): fk is ForeignKey =>
          fk?.kind === 'key' &&
          fk.run.length === 2 &&
          this.#loaded.has(fk.child) &&
          !this.#loaded.has(fk.parent),
      );
  }

  /** Takes a key out of the dump-order script (its caller runs it otherwise). */
  remove(fk: ForeignKey): void {
    const i = this.#ordered.findIndex((e) => e.fk === fk);
    if (i >= 0) this.#ordered.splice(i, 1);
  }

  /** What is left in dump order: attachments, triggers, rules, comments, keys not run early. */
  serial(): string {
    return this.#ordered.map((e) => e.sql).join('');
  }

  /**
   * Both tables complete; no other check on the referencing table (its scan lock conflicts with
   * itself) and none with the referenced table as its referencing side (the brief NOT VALID add
   * needs SHARE ROW EXCLUSIVE there). Other checks that merely reference the same parent hold
   * ROW SHARE on it, which conflicts with neither, so no session waits on another and no pair of
   * keys can deadlock. An ANALYZE also waits for the keys referencing its table: its lock
   * conflicts with their adds.
   */
  #startable(fk: ForeignKey): boolean {
    // a validation's ROW SHARE on the referenced table conflicts with nothing scheduled here
    if (fk.kind === 'validate') return this.#ready.has(fk.child) && !this.#busy.has(fk.child);
    if (fk.kind === 'statistics')
      return this.#partitionsReady(fk) && !this.#busy.has(fk.child) && !this.#referenced.get(fk.child);
    return (
      this.#ready.has(fk.child) &&
      this.#ready.has(fk.parent) &&
      !this.#busy.has(fk.child) &&
      !this.#busy.has(fk.parent)
    );
  }

  /**
   * Statistics of loaded tables are scheduled once every loaded table is complete; those of a
   * partitioned parent as soon as its partitions are (or all loads are done: some may have none).
   */
  #partitionsReady(fk: ForeignKey): boolean {
    return this.#allLoaded || (fk.after ?? []).every((t) => this.#ready.has(t));
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
