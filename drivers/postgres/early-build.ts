/**
 * Index and key builds that can start as soon as one table's data is in, the way pg_restore -j
 * schedules them: the worker that loaded a table goes on to build that table's indexes while the
 * other workers still load. What no loaded table claims (partitioned parents, tables restored
 * without data) is left for the post-data phase.
 */
import { splitPostData } from './schema.js';

/** `public."Kunden Übersicht"` -> `public.Kunden Übersicht` (the form stream names use). */
const QUALIFIED = /^((?:"(?:[^"]|"")*"|[^\s."]+))\.((?:"(?:[^"]|"")*"|[^\s."(]+))/;
const CREATE_INDEX = /CREATE (?:UNIQUE )?INDEX \S+ ON (?!ONLY )(.+)$/m;
const ALTER_TABLE = /ALTER TABLE ONLY (.+)$/m;

function unquote(id: string): string {
  return id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id;
}

/** The table a CREATE INDEX / ADD CONSTRAINT entry builds on, or undefined when it cannot run early. */
export function tableOfEntry(sql: string): string | undefined {
  const target = (CREATE_INDEX.exec(sql) ?? ALTER_TABLE.exec(sql))?.[1];
  const m = target ? QUALIFIED.exec(target) : null;
  return m?.[1] && m[2] ? `${unquote(m[1])}.${unquote(m[2])}` : undefined;
}

export class EarlyBuilds {
  readonly prelude: string;
  readonly #byTable = new Map<string, string[]>();
  readonly #rest: string[] = [];
  readonly serial: string;

  constructor(postData: string) {
    const { prelude, parallel, serial } = splitPostData(postData);
    this.prelude = prelude;
    this.serial = serial;
    for (const sql of parallel) {
      const table = tableOfEntry(sql);
      if (table === undefined) this.#rest.push(sql);
      else this.#byTable.set(table, [...(this.#byTable.get(table) ?? []), sql]);
    }
  }

  /** Takes the builds of one loaded table (each is handed out once). */
  take(table: string): string[] {
    const sqls = this.#byTable.get(table) ?? [];
    this.#byTable.delete(table);
    return sqls;
  }

  /** Everything not taken yet, for the post-data phase. */
  remaining(): string[] {
    const out = [...this.#rest, ...[...this.#byTable.values()].flat()];
    this.#rest.length = 0;
    this.#byTable.clear();
    return out;
  }
}
