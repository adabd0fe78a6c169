/**
 * SQL text for replaying row changes into one target table. Column types come from the TARGET's
 * catalog (introspected once per table and column list, again after replayed DDL): type oids of the
 * source mean nothing there for enums and domains, and format_type under search_path = pg_catalog
 * gives fully qualified names for the casts.
 */
import type pg from 'pg';
import { SourceError } from '../../../src/util/errors.js';
import { quoteIdent, quoteQualified } from './connection.js';
import type { PayloadRow, PayloadValue, Relation } from './payload.js';

/** OIDs below this are built in and equal on every PostgreSQL server. */
const FIRST_NORMAL_OID = 16384;
/** Base types without an equality operator: compared through their text form instead. */
const NO_EQUALITY = new Set(['json', 'xml', 'point', 'line', 'lseg', 'box', 'path', 'polygon', 'circle']);

export interface Column {
  readonly sql: string;
  readonly type: string;
  readonly isKey: boolean;
  /** GENERATED ALWAYS AS IDENTITY: never changed by UPDATE on the source, refused on the target. */
  readonly identityAlways: boolean;
  readonly textCompare: boolean;
}

/** A string literal under standard_conforming_strings = on (apply.ts forces it). */
export function lit(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}

export class TargetTable {
  readonly sqlName: string;
  /**
   * The table as UPDATE, DELETE, SELECT and TRUNCATE must name it: `ONLY name` for a plain table,
   * since a change (or a TRUNCATE ONLY) of an inheritance parent on the source is sent for the
   * parent alone, and children's rows arrive under their own relation. A partitioned table has no
   * rows of its own (and refuses TRUNCATE ONLY): when the publication sends changes through the
   * root, they are meant to reach its partitions.
   */
  readonly target: string;
  readonly display: string;
  private readonly head: string;

  constructor(
    readonly oid: number,
    /** pg_class.relkind on the target: 'r' plain table, 'p' partitioned table. */
    readonly relkind: string,
    rel: Relation,
    readonly columns: readonly Column[],
    /**
     * No unique or exclusion index besides the replica identity's: rows of one UPDATE may then be
     * changed in any order. With one, a single statement could collide where the source's order
     * of row updates did not (row 1 frees a value, row 2 takes it), so apply-batch.ts keeps one
     * statement per row.
     */
    readonly updatesCommute: boolean,
  ) {
    this.sqlName = quoteQualified(rel.namespace, rel.name);
    this.target = relkind === 'p' ? this.sqlName : `ONLY ${this.sqlName}`;
    this.display = `${rel.namespace}.${rel.name}`;
    this.head = `INSERT INTO ${this.sqlName} (${columns.map((c) => c.sql).join(', ')}) OVERRIDING SYSTEM VALUE VALUES`;
  }

  value(v: PayloadValue, i: number): string {
    if (v === null) return 'NULL';
    if (typeof v !== 'string') {
      throw new SourceError(
        `A value of ${this.display} is ${v === false ? 'an unchanged TOAST marker' : 'binary'} where text was expected.`,
      );
    }
    return `${lit(v)}::${this.columns[i]?.type ?? 'text'}`;
  }

  insertHead(): string {
    return this.head;
  }

  values(row: PayloadRow): string {
    return `(${row.map((v, i) => this.value(v, i)).join(',')})`;
  }

  /** `col = v` conditions on the key (old key when sent, else the new row's key columns). */
  private keyMatch(row: PayloadRow): string {
    const parts: string[] = [];
    this.columns.forEach((c, i) => {
      if (!c.isKey) return;
      const v = row[i];
      if (v === false || v === undefined) return;
      parts.push(v === null ? `${c.sql} IS NULL` : `${c.sql} = ${this.value(v, i)}`);
    });
    if (!parts.length)
      throw new SourceError(`${this.display} has no replica identity columns to find rows by.`);
    return parts.join(' AND ');
  }

  /** REPLICA IDENTITY FULL: the old row names one row, even among identical duplicates. */
  private rowMatch(row: PayloadRow): string {
    const parts: string[] = [];
    this.columns.forEach((c, i) => {
      const v = row[i];
      if (v === false || v === undefined) return;
      // `=` for a non-NULL value matches exactly what IS NOT DISTINCT FROM does, and can use an index
      if (v === null) parts.push(`${c.sql} IS NULL`);
      else if (c.textCompare)
        parts.push(`${c.sql}::text = ${typeof v === 'string' ? lit(v) : this.value(v, i)}`);
      else parts.push(`${c.sql} = ${this.value(v, i)}`);
    });
    // a ctid names a row within one table only: under a partitioned root, say which partition
    const [id, cols] = this.relkind === 'p' ? ['(tableoid, ctid)', 'tableoid, ctid'] : ['ctid', 'ctid'];
    return `${id} = (SELECT ${cols} FROM ${this.target} WHERE ${parts.join(' AND ') || 'true'} LIMIT 1)`;
  }

  private where(oldKind: 'K' | 'O' | null, oldRow: PayloadRow | null, newRow: PayloadRow): string {
    if (oldKind === 'O' && oldRow) return this.rowMatch(oldRow);
    return this.keyMatch(oldKind === 'K' && oldRow ? oldRow : newRow);
  }

  /** Unchanged TOAST values (false) are left out of SET, so the target keeps its copy. */
  update(newRow: PayloadRow, oldKind: 'K' | 'O' | null, oldRow: PayloadRow | null): string | undefined {
    const set: string[] = [];
    newRow.forEach((v, i) => {
      const c = this.columns[i];
      if (v === false || !c || c.identityAlways) return;
      set.push(`${c.sql} = ${this.value(v, i)}`);
    });
    if (!set.length) return undefined;
    return `UPDATE ${this.target} SET ${set.join(', ')} WHERE ${this.where(oldKind, oldRow, newRow)}`;
  }

  delete(oldKind: 'K' | 'O', oldRow: PayloadRow): string {
    return `DELETE FROM ${this.target} WHERE ${this.where(oldKind, oldRow, oldRow)}`;
  }
}

interface ColumnRow {
  name: string;
  type: string;
  identity: string;
  base: string;
}

/** Per-client cache of target tables, keyed by name and the source's column list. */
export class TargetTables {
  private readonly cache = new Map<string, TargetTable | null>();
  private readonly allowedCache = new Map<number, Set<string>>();

  constructor(private readonly client: pg.Client) {}

  invalidate(): void {
    this.cache.clear();
    this.allowedCache.clear();
  }

  /** The target table for a source relation; undefined when the target has no such table. */
  async get(rel: Relation): Promise<TargetTable | undefined> {
    const key = JSON.stringify([rel.namespace, rel.name, rel.columns.map((c) => [c.name, c.isKey])]);
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit ?? undefined;
    const name = quoteQualified(rel.namespace, rel.name);
    // relkind decides ONLY (TargetTable.target); the payload does not carry it
    const oidRes = await this.client.query<{ oid: number; relkind: string }>(
      `SELECT c.oid, c.relkind FROM pg_class c WHERE c.oid = to_regclass($1)`,
      [name],
    );
    const found = oidRes.rows[0];
    if (!found) {
      this.cache.set(key, null);
      return undefined;
    }
    const res = await this.client.query<ColumnRow>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attidentity AS identity,
              coalesce(et.typname, bt.typname)::text AS base
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
         JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
         LEFT JOIN pg_type et ON et.oid = bt.typelem AND bt.typcategory = 'A'
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped`,
      [found.oid],
    );
    const byName = new Map(res.rows.map((r) => [r.name, r]));
    const columns = rel.columns.map((c): Column => {
      const t = byName.get(c.name);
      if (!t) {
        throw new SourceError(
          `Column "${c.name}" of ${rel.namespace}.${rel.name} is in the change log but not on the target (was DDL made while streaming without capture?).`,
        );
      }
      return {
        sql: quoteIdent(c.name),
        type: t.type,
        isKey: c.isKey,
        identityAlways: t.identity === 'a',
        textCompare: NO_EQUALITY.has(t.base),
      };
    });
    const other = await this.client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE i.indrelid = $1 AND (i.indisunique OR i.indisexclusion)
          AND NOT i.indisreplident AND NOT (i.indisprimary AND c.relreplident = 'd')`,
      [found.oid],
    );
    const table = new TargetTable(found.oid, found.relkind, rel, columns, other.rows[0]?.n === 0);
    this.cache.set(key, table);
    return table;
  }

  /**
   * Creates a table from a relation description, for tables whose rows arrive before their DDL.
   * Built-in type oids are the same on every server; others need a Type record of the log.
   */
  async create(rel: Relation, types: ReadonlyMap<number, string>): Promise<void> {
    const cols: string[] = [];
    for (const c of rel.columns) {
      let type = types.get(c.typeOid);
      if (!type && c.typeOid < FIRST_NORMAL_OID) {
        const r = await this.client.query<{ t: string }>(`SELECT pg_catalog.format_type($1, $2) AS t`, [
          c.typeOid,
          c.typmod,
        ]);
        type = r.rows[0]?.t;
      }
      if (!type) {
        throw new SourceError(
          `Cannot create ${rel.namespace}.${rel.name} on the target: column "${c.name}" has a user-defined type the log does not describe.`,
        );
      }
      cols.push(`${quoteIdent(c.name)} ${type}`);
    }
    await this.client.query(
      `CREATE TABLE IF NOT EXISTS ${quoteQualified(rel.namespace, rel.name)} (${cols.join(', ')})`,
    );
    this.invalidate();
  }

  /** Whether `tables` names this table or one of its partition ancestors (qualified or bare). */
  async allowed(t: TargetTable, tables: ReadonlySet<string> | undefined): Promise<boolean> {
    if (!tables) return true;
    let names = this.allowedCache.get(t.oid);
    if (!names) {
      // pg_partition_ancestors returns nothing for a table that is not a partition, so the
      // table itself is named separately: without it, replay under --tables applied no change
      // to an ordinary table and the restore still exited 0.
      const res = await this.client.query<{ nspname: string; relname: string }>(
        `SELECT n.nspname, c.relname
           FROM (SELECT $1::oid AS relid UNION SELECT relid FROM pg_partition_ancestors($1)) a
           JOIN pg_class c ON c.oid = a.relid JOIN pg_namespace n ON n.oid = c.relnamespace`,
        [t.oid],
      );
      names = new Set(res.rows.flatMap((r) => [`${r.nspname}.${r.relname}`, r.relname]));
      this.allowedCache.set(t.oid, names);
    }
    for (const n of names) if (tables.has(n)) return true;
    return false;
  }
}
