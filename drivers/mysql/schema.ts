/**
 * The snapshot's schema (`mysql-schema/1`): a JSON document of the statements that recreate one
 * database, read with SHOW CREATE (tables with their charsets, collations, generated and
 * invisible columns, partitions, checks and AUTO_INCREMENT; views; triggers; routines; events),
 * with the session settings each was created under. It never names the source database, so a
 * restore can go into a database of another name: SHOW CREATE TABLE leaves it out already, view
 * bodies have it taken out, and DEFINER clauses are dropped so that the restoring user owns
 * what it creates (SQL SECURITY stays as it was).
 */
import { SourceError } from '../../src/util/errors.js';
import { firstLine, quoteIdent, type Row, type Session } from './internal/connection.js';

export const SCHEMA_FORMAT = 'mysql-schema/1';

export interface ColumnDoc {
  readonly name: string;
  /** information_schema DATA_TYPE, lower case: `int`, `float`, `bit`, `varchar`… */
  readonly dataType: string;
  /** Computed by the server (VIRTUAL or STORED): never dumped nor loaded. */
  readonly generated: boolean;
}

export interface TableDoc {
  readonly name: string;
  readonly create: string;
  readonly engine: string;
  readonly columns: readonly ColumnDoc[];
  readonly primaryKey: readonly string[];
  /** The source's next AUTO_INCREMENT value, when the table has one. */
  readonly autoIncrement?: string;
}

/** A view, trigger, routine or event: its statement and the session settings it needs. */
export interface ObjectDoc {
  readonly name: string;
  readonly create: string;
  readonly sqlMode?: string;
  readonly timeZone?: string;
  /** `PROCEDURE` or `FUNCTION` for a routine; the table for a trigger. */
  readonly kind?: string;
  readonly table?: string;
}

/** A MariaDB SEQUENCE: its definition and the next value it would hand out (after its cache). */
export interface SequenceDoc {
  readonly name: string;
  readonly create: string;
  readonly next: string;
}

export interface SchemaDocument {
  readonly format: typeof SCHEMA_FORMAT;
  readonly flavour: 'mariadb' | 'mysql';
  readonly serverVersion: string;
  /** The source database's name, for messages only: no statement refers to it. */
  readonly database: string;
  readonly charset: string;
  readonly collation: string;
  /** The sql_mode the tables were created under (the server's default for the dumping session). */
  readonly sqlMode: string;
  /** The server's time_zone; the dump itself is read under +00:00. */
  readonly timeZone: string;
  readonly tables: readonly TableDoc[];
  /** MariaDB sequences (absent in documents of servers without them). */
  readonly sequences?: readonly SequenceDoc[];
  readonly views: readonly ObjectDoc[];
  readonly triggers: readonly ObjectDoc[];
  readonly routines: readonly ObjectDoc[];
  readonly events: readonly ObjectDoc[];
}

export function encodeSchema(doc: SchemaDocument): Uint8Array {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

export function decodeSchema(bytes: Uint8Array, format: string): SchemaDocument {
  if (format !== SCHEMA_FORMAT) {
    throw new SourceError(
      `The snapshot's schema has format "${format}"; this driver reads "${SCHEMA_FORMAT}".`,
    );
  }
  const doc = JSON.parse(Buffer.from(bytes).toString('utf8')) as SchemaDocument;
  if (doc.format !== SCHEMA_FORMAT || !Array.isArray(doc.tables))
    throw new SourceError(`The snapshot's schema is not a ${SCHEMA_FORMAT} document.`);
  return doc;
}

/** `DEFINER=`user`@`host`` as SHOW CREATE prints it. */
const DEFINER =
  /\bDEFINER\s*=\s*(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\S+?)@(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|\S+)\s*/i;

export function withoutDefiner(sql: string): string {
  return sql.replace(DEFINER, '');
}

/**
 * A view's body names its tables `db`.`t`: the source database's qualifier is taken out so the
 * view resolves in the database it is restored into. Text inside string literals is left alone.
 */
export function withoutDatabase(sql: string, database: string): string {
  const qualifier = `${quoteIdent(database)}.`;
  let out = '';
  for (let i = 0; i < sql.length;) {
    const ch = sql[i];
    if (ch === "'" || ch === '"') {
      let j = i + 1;
      while (j < sql.length && sql[j] !== ch) j += sql[j] === '\\' ? 2 : 1;
      out += sql.slice(i, j + 1);
      i = j + 1;
    } else if (sql.startsWith(qualifier, i)) {
      i += qualifier.length;
    } else if (ch === '`') {
      const m = /^`(?:[^`]|``)*`/.exec(sql.slice(i));
      const quoted = m?.[0] ?? ch;
      out += quoted;
      i += quoted.length;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

export interface SnapshotTable extends TableDoc {
  /** Rough size, for scheduling (largest first) and splitting. */
  readonly dataLength: number;
  readonly rowEstimate: number;
  /** MariaDB WITH SYSTEM VERSIONING: its history cannot be dumped and loaded as rows. */
  readonly versioned: boolean;
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : v == null ? '' : String(v));

/** The base tables of `database`, with columns and primary keys, as information_schema lists them. */
export async function listTables(s: Session, database: string): Promise<Omit<SnapshotTable, 'create'>[]> {
  const tables = await s.query(
    `SELECT TABLE_NAME AS name, ENGINE AS engine, DATA_LENGTH AS dataLength, TABLE_ROWS AS rowEstimate,
            AUTO_INCREMENT AS autoIncrement, TABLE_TYPE AS type
       FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
      ORDER BY TABLE_NAME`,
    [database],
  );
  const columns = await s.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS name, DATA_TYPE AS dataType, IS_GENERATED AS gen, EXTRA AS extra
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, ORDINAL_POSITION`,
    [database],
  );
  const keys = await s.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS name FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'PRIMARY' ORDER BY TABLE_NAME, SEQ_IN_INDEX`,
    [database],
  );
  const byTable = <T>(rows: Row[], f: (r: Row) => T): Map<string, T[]> => {
    const m = new Map<string, T[]>();
    for (const r of rows) {
      const list = m.get(text(r.t)) ?? [];
      list.push(f(r));
      m.set(text(r.t), list);
    }
    return m;
  };
  const cols = byTable(columns, (r) => ({
    name: text(r.name),
    dataType: text(r.dataType).toLowerCase(),
    generated: text(r.gen) === 'ALWAYS' || /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i.test(text(r.extra)),
  }));
  const pks = byTable(keys, (r) => text(r.name));
  return tables.map((r) => {
    const name = text(r.name);
    const versioned = text(r.type) === 'SYSTEM VERSIONED';
    const ai = r.autoIncrement == null ? undefined : text(r.autoIncrement);
    return {
      name,
      engine: text(r.engine),
      columns: cols.get(name) ?? [],
      primaryKey: pks.get(name) ?? [],
      dataLength: Number(text(r.dataLength) || 0),
      rowEstimate: Number(text(r.rowEstimate) || 0),
      versioned,
      ...(ai ? { autoIncrement: ai } : {}),
    };
  });
}

/** One `SHOW CREATE …` row; the statement is in the column whose name starts with `Create` or is the original statement. */
async function showCreate(s: Session, what: string, database: string, name: string): Promise<Row> {
  const rows = await s.query(`SHOW CREATE ${what} ${quoteIdent(database)}.${quoteIdent(name)}`);
  const row = rows[0];
  if (!row) throw new SourceError(`SHOW CREATE ${what} ${database}.${name} returned nothing.`);
  return row;
}

function statementOf(row: Row, what: string, name: string): string {
  const key = Object.keys(row).find((k) =>
    /^(Create (Table|View|Procedure|Function|Event)|SQL Original Statement)$/.test(k),
  );
  const sql = key ? text(row[key]) : '';
  if (!sql)
    throw new SourceError(
      `The server showed no definition of ${what.toLowerCase()} ${name}; the backup user needs SELECT on mysql.proc (MariaDB) or SHOW_ROUTINE (MySQL) to read routine bodies.`,
    );
  return sql;
}

/**
 * Reads every object of `database` the restore recreates. `tables` are the selected base tables;
 * triggers follow their tables; views, routines and events are the whole database's.
 */
export async function readSchema(
  s: Session,
  database: string,
  tables: readonly Omit<SnapshotTable, 'create'>[],
  server: { flavour: 'mariadb' | 'mysql'; version: string },
): Promise<{ doc: SchemaDocument; tables: SnapshotTable[] }> {
  try {
    const [db] = await s.query(
      'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
      [database],
    );
    const sqlMode = (await s.value('SELECT @@SESSION.sql_mode')) ?? '';
    const timeZone = (await s.value('SELECT @@GLOBAL.time_zone')) ?? '';
    const full: SnapshotTable[] = [];
    for (const t of tables) {
      // a DEFAULT NEXTVAL(`db`.`seq`) names the database; a restore resolves it in its own
      const shown = statementOf(await showCreate(s, 'TABLE', database, t.name), 'TABLE', t.name);
      full.push({ ...t, create: withoutDatabase(shown, database) });
    }
    const sequences: SequenceDoc[] = [];
    for (const r of await s.query(
      "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'SEQUENCE' ORDER BY TABLE_NAME",
      [database],
    )) {
      const name = text(r.name);
      const create = statementOf(await showCreate(s, 'SEQUENCE', database, name), 'SEQUENCE', name);
      const next = await s.value(
        `SELECT next_not_cached_value FROM ${quoteIdent(database)}.${quoteIdent(name)}`,
      );
      sequences.push({ name, create, next: next ?? '' });
    }
    const names = new Set(tables.map((t) => t.name));
    const views: ObjectDoc[] = [];
    for (const r of await s.query(
      'SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
      [database],
    )) {
      const name = text(r.name);
      const row = await showCreate(s, 'VIEW', database, name);
      views.push({ name, create: withoutDatabase(withoutDefiner(statementOf(row, 'VIEW', name)), database) });
    }
    const triggers: ObjectDoc[] = [];
    for (const r of await s.query(
      `SELECT TRIGGER_NAME AS name, EVENT_OBJECT_TABLE AS t FROM information_schema.TRIGGERS
        WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, ACTION_ORDER`,
      [database],
    )) {
      const name = text(r.name);
      if (!names.has(text(r.t))) continue;
      const row = await showCreate(s, 'TRIGGER', database, name);
      triggers.push({
        name,
        table: text(r.t),
        create: withoutDefiner(statementOf(row, 'TRIGGER', name)),
        sqlMode: text(row.sql_mode),
      });
    }
    const routines: ObjectDoc[] = [];
    for (const r of await s.query(
      `SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS kind FROM information_schema.ROUTINES
        WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE IN ('PROCEDURE', 'FUNCTION') ORDER BY ROUTINE_TYPE, ROUTINE_NAME`,
      [database],
    )) {
      const name = text(r.name);
      const kind = text(r.kind);
      const row = await showCreate(s, kind, database, name);
      routines.push({
        name,
        kind,
        create: withoutDefiner(statementOf(row, kind, name)),
        sqlMode: text(row.sql_mode),
      });
    }
    const events: ObjectDoc[] = [];
    for (const r of await s.query(
      'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME',
      [database],
    )) {
      const name = text(r.name);
      const row = await showCreate(s, 'EVENT', database, name);
      events.push({
        name,
        create: withoutDefiner(statementOf(row, 'EVENT', name)),
        sqlMode: text(row.sql_mode),
        timeZone: text(row.time_zone),
      });
    }
    const doc: SchemaDocument = {
      format: SCHEMA_FORMAT,
      flavour: server.flavour,
      serverVersion: server.version,
      database,
      charset: text(db?.cs),
      collation: text(db?.co),
      sqlMode,
      timeZone,
      tables: full.map(({ dataLength: _d, rowEstimate: _r, versioned: _v, ...t }) => t),
      sequences,
      views,
      triggers,
      routines,
      events,
    };
    return { doc, tables: full };
  } catch (err) {
    if (err instanceof SourceError) throw err;
    throw new SourceError(`Reading the schema of database ${database} failed: ${firstLine(err)}.`, {
      cause: err,
    });
  }
}
