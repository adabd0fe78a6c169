/**
 * DDL capture. Logical decoding carries rows, not schema changes, so an event trigger on
 * `ddl_command_end` emits the statement text as a TRANSACTIONAL logical decoding message
 * (`crmb.ddl`): it commits or rolls back with the DDL and arrives in the stream exactly between
 * the changes before and after it. apply.ts executes it at that point.
 *
 * Needs superuser (CREATE EVENT TRIGGER). Without it nothing is installed: DDL during streaming
 * is then NOT captured (restores replay rows against the schema of the snapshot and fail or
 * drop columns), and tables created later without a primary key get REPLICA IDENTITY FULL only
 * from the stream's periodic check (`fixReplicaIdentity`), so UPDATE/DELETE on them fail until then.
 *
 * The trigger never breaks the application's DDL: errors become WARNINGs. It skips temporary
 * objects, our own schema `crmb`, extension members and statements run by this tool
 * (`crmb.internal`), and emits a multi-statement query string once, not once per statement.
 * A query string holding several statements is captured once, at its first DDL command, and
 * replayed there without its row statements and transaction control (`replayStatements`), since
 * rows arrive through the stream. Known limits: DDL later in such a string runs before the rows
 * in between; DO blocks and procedures are replayed whole.
 *
 * Values a DDL command computes on the source for the rows already there are not rows logical
 * decoding publishes, and a replay would compute others. So they travel as messages too, right
 * after the command's `crmb.ddl` and in its transaction: a table rewritten for a new column's
 * default or a column's new type (ALTER COLUMN ... TYPE ... USING; the `table_rewrite` event says
 * which) sends all its rows (`crmb.rows`), which the replay puts in place of its own; a new
 * column whose default was evaluated once and stored for the old rows without a rewrite (now(),
 * current_user) sends that value (`crmb.missing`). The cost of a rewrite is on the source: the
 * table is read once more while the command holds its lock (about 3 s per million rows), and its
 * rows go into the WAL and the stored log a second time, as text. Rows the command's role cannot
 * read (row-level security) are named in a message instead, and the restore warns about the table.
 */
import type pg from 'pg';
import { CAPTURE_SCHEMA, ensureChangeRecord, identityName, restoreIdentities } from './source-changes.js';

export const DDL_MESSAGE_PREFIX = 'crmb.ddl';
export const SEQUENCES_MESSAGE_PREFIX = 'crmb.sequences';
/** The rows of a table as a rewriting DDL command left them (`RowsMessage`), after its `crmb.ddl`. */
export const ROWS_MESSAGE_PREFIX = 'crmb.rows';
/**
 * An empty message after ours in a DDL command's transaction. Logical decoding queues a message at
 * the END of its WAL record and a row change at its start, so the application's next change, in
 * the enclosing (sub)transaction, ties with our last message and may be decoded before it (seen:
 * an UPDATE of a column the replayed ALTER had not added yet). After the fence only the fence ties.
 */
export const FENCE_MESSAGE_PREFIX = 'crmb.fence';
/**
 * The value a new column got in a table's existing rows without a rewrite (`MissingMessage`): ADD
 * COLUMN with a default that is not volatile but not constant either (now(), current_user)
 * stores it once for them, and the replayed ADD COLUMN would compute its own.
 */
export const MISSING_MESSAGE_PREFIX = 'crmb.missing';
/** Rows per `crmb.rows` message, by the size of their text. */
const ROWS_MESSAGE_BYTES = 1024 * 1024;
/** The schema of everything the stream installs on the source (source-changes.ts defines it). */
export { CAPTURE_SCHEMA };

/** Content of a `crmb.ddl` message. */
export interface DdlMessage {
  readonly sql: string;
  readonly searchPath: string;
  readonly user: string;
  readonly tag: string;
}

/**
 * Tables (alias `c`) whose UPDATE/DELETE cannot be published: no primary key nor replica identity
 * index. An 'i' whose index was dropped (or is invalid) behaves like NOTHING. Shared with preflight.
 */
export const NEEDS_FULL_IDENTITY = `c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
  AND (c.relreplident = 'n'
       OR (c.relreplident = 'd'
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
       OR (c.relreplident = 'i'
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                            WHERE i.indrelid = c.oid AND i.indisreplident AND i.indisvalid)))`;

const INSTALL_SQL = `
CREATE SCHEMA IF NOT EXISTS ${CAPTURE_SCHEMA};
-- the triggers run as whoever runs the DDL, and call the helpers below (SECURITY INVOKER: they
-- read only what that role may read, and emit only what it could emit itself)
GRANT USAGE ON SCHEMA ${CAPTURE_SCHEMA} TO PUBLIC;
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql AS $f$
BEGIN
  -- ddl_command_end cannot see what a DROP removed; remember here when it was only ours or temporary
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger_dropped_objects()
                 WHERE NOT is_temporary AND coalesce(schema_name, '') <> '${CAPTURE_SCHEMA}') THEN
    PERFORM pg_catalog.set_config('crmb.skip_ddl', 'on', true);
  END IF;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'crm-backup DDL capture: %', SQLERRM;
END $f$;
-- runs as the caller WITHOUT a SET clause, so pg_catalog.current_setting('search_path') is the caller's;
-- every name inside is therefore qualified (pg_logical_emit_message is executable by PUBLIC)
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql AS $f$
DECLARE
  total int;
  skipped int;
  key text;
  stmt text := pg_catalog.current_query();
  r record;
  tables pg_catalog.oid[];
BEGIN
  IF pg_catalog.current_setting('crmb.internal', true) = 'on' THEN RETURN; END IF;
  IF pg_catalog.current_setting('crmb.skip_ddl', true) = 'on' THEN
    PERFORM pg_catalog.set_config('crmb.skip_ddl', 'off', true);
    RETURN;
  END IF;
  SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE schema_name = '${CAPTURE_SCHEMA}' OR schema_name LIKE 'pg\\_temp%' OR in_extension)
    INTO total, skipped FROM pg_catalog.pg_event_trigger_ddl_commands();
  IF total > 0 AND total = skipped THEN RETURN; END IF;
  tables := ARRAY(SELECT d.objid FROM pg_catalog.pg_event_trigger_ddl_commands() d
                   WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass);
  -- a published table without a key makes the application's UPDATE/DELETE fail: give it one now,
  -- in the same transaction as the DDL, so there is no window
  PERFORM pg_catalog.set_config('crmb.internal', 'on', true);
  FOR r IN SELECT DISTINCT c.oid, c.relreplident FROM pg_catalog.pg_event_trigger_ddl_commands() d JOIN pg_catalog.pg_class c ON c.oid = d.objid
           WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND ${NEEDS_FULL_IDENTITY} LOOP
    EXECUTE pg_catalog.format('ALTER TABLE %s REPLICA IDENTITY FULL', r.oid::pg_catalog.regclass);
    -- recorded, so that stream --drop puts the setting back (source-changes.ts)
    PERFORM ${CAPTURE_SCHEMA}.remember_identity(r.oid, r.relreplident);
  END LOOP;
  PERFORM pg_catalog.set_config('crmb.internal', 'off', true);
  -- one message per query string, not one per statement inside it
  key := pg_catalog.md5(stmt) || pg_catalog.statement_timestamp()::text;
  IF pg_catalog.current_setting('crmb.last_ddl', true) = key THEN
    -- captured with the query string's first DDL; the rows a later statement rewrote follow here
    PERFORM ${CAPTURE_SCHEMA}.emit_rewritten();
    PERFORM ${CAPTURE_SCHEMA}.emit_missing(tables);
    PERFORM pg_catalog.pg_logical_emit_message(true, '${FENCE_MESSAGE_PREFIX}', '');
    RETURN;
  END IF;
  PERFORM pg_catalog.set_config('crmb.last_ddl', key, true);
  IF tg_tag IN ('CREATE TABLE AS', 'SELECT INTO') THEN
    -- its rows are decoded as inserts (before this message; apply creates the table from the
    -- relation description then); replaying the query as well would load them twice
    SELECT 'CREATE TABLE IF NOT EXISTS ' || c.oid::pg_catalog.regclass::pg_catalog.text || ' (' ||
           pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) || ')'
      INTO stmt
      FROM pg_catalog.pg_event_trigger_ddl_commands() d JOIN pg_catalog.pg_class c ON c.oid = d.objid
      JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND c.relkind = 'r'
     GROUP BY c.oid;
  END IF;
  PERFORM pg_catalog.pg_logical_emit_message(true, '${DDL_MESSAGE_PREFIX}', pg_catalog.json_build_object(
    'sql', stmt, 'searchPath', pg_catalog.current_setting('search_path'), 'user', session_user::pg_catalog.text, 'tag', tg_tag)::pg_catalog.text);
  PERFORM ${CAPTURE_SCHEMA}.emit_rewritten();
  PERFORM ${CAPTURE_SCHEMA}.emit_missing(tables);
  PERFORM pg_catalog.pg_logical_emit_message(true, '${FENCE_MESSAGE_PREFIX}', '');
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'crm-backup DDL capture: %', SQLERRM;
END $f$;
-- table_rewrite: which tables this command rewrites because of a new column's default (reason
-- bit 2) or a column's new type (bit 4); on_ddl_end sends their rows once the command is done
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.on_table_rewrite() RETURNS event_trigger
LANGUAGE plpgsql AS $f$
BEGIN
  IF pg_catalog.current_setting('crmb.internal', true) = 'on' THEN RETURN; END IF;
  IF pg_catalog.pg_event_trigger_table_rewrite_reason() & 6 = 0 THEN RETURN; END IF;
  PERFORM pg_catalog.set_config('crmb.rewritten', pg_catalog.concat_ws(',',
    NULLIF(pg_catalog.current_setting('crmb.rewritten', true), ''),
    pg_catalog.pg_event_trigger_table_rewrite_oid()::pg_catalog.text), true);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'crm-backup DDL capture: %', SQLERRM;
END $f$;
-- the rows of each published table the command rewrote; a table whose rows cannot be read (a
-- row-level security policy, say) is named instead, so the restore can say its values differ
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.emit_rewritten() RETURNS void
LANGUAGE plpgsql AS $f$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT DISTINCT c.oid, n.nspname, c.relname
             FROM pg_catalog.unnest(pg_catalog.string_to_array(
                    NULLIF(pg_catalog.current_setting('crmb.rewritten', true), ''), ',')) x
             JOIN pg_catalog.pg_class c ON c.oid = x::pg_catalog.oid
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND n.nspname <> '${CAPTURE_SCHEMA}'
              AND n.nspname NOT LIKE 'pg\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                                AND d.objid = c.oid AND d.deptype = 'e') LOOP
    BEGIN
      PERFORM ${CAPTURE_SCHEMA}.emit_rows(r.oid);
    EXCEPTION WHEN OTHERS THEN
      PERFORM pg_catalog.pg_logical_emit_message(true, '${ROWS_MESSAGE_PREFIX}', pg_catalog.convert_to(
        pg_catalog.json_build_object('schema', r.nspname, 'name', r.relname, 'error', SQLERRM)::pg_catalog.text, 'UTF8'));
      RAISE WARNING 'crm-backup DDL capture: the rows of %.% as this command left them could not be recorded (%), so a restore past it will name the table as differing from the source', r.nspname, r.relname, SQLERRM;
    END;
  END LOOP;
  PERFORM pg_catalog.set_config('crmb.rewritten', '', true);
END $f$;
-- for each column of these tables (and their partitions and children) that holds a value for
-- the rows that existed when it was added (atthasmissing), that value as one of those rows shows it;
-- replay uses it only for a column its own replay of the command just added the same way
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.emit_missing(tables pg_catalog.oid[]) RETURNS void
LANGUAGE plpgsql
SET DateStyle = 'ISO, MDY' SET IntervalStyle = 'postgres' SET TimeZone = 'UTC' SET extra_float_digits = 3
SET bytea_output = 'hex' SET row_security = off SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
  r record;
  v text;
  found_row boolean;
BEGIN
  FOR r IN WITH RECURSIVE t(oid) AS (
             SELECT pg_catalog.unnest(tables)
             UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN t ON i.inhparent = t.oid)
           SELECT c.oid, ns.nspname, c.relname, a.attname
             FROM t JOIN pg_catalog.pg_class c ON c.oid = t.oid
             JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace
             JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND ns.nspname <> '${CAPTURE_SCHEMA}'
              AND coalesce(pg_catalog.to_jsonb(a) ->> 'atthasmissing', 'false') = 'true' LOOP
    found_row := false;
    EXECUTE pg_catalog.format('SELECT %I::text, true FROM ONLY %s LIMIT 1', r.attname, r.oid::pg_catalog.regclass)
      INTO v, found_row;
    IF found_row THEN
      PERFORM pg_catalog.pg_logical_emit_message(true, '${MISSING_MESSAGE_PREFIX}', pg_catalog.convert_to(
        pg_catalog.json_build_object('schema', r.nspname, 'name', r.relname, 'column', r.attname, 'value', v)::pg_catalog.text, 'UTF8'));
    END IF;
  END LOOP;
END $f$;
-- one table's rows as crmb.rows messages of about ${ROWS_MESSAGE_BYTES} bytes, each value as the text
-- pgoutput would send (the replication session's settings); row_security off: refused, not filtered
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.emit_rows(rel pg_catalog.oid) RETURNS void
LANGUAGE plpgsql
SET DateStyle = 'ISO, MDY' SET IntervalStyle = 'postgres' SET TimeZone = 'UTC' SET extra_float_digits = 3
SET bytea_output = 'hex' SET row_security = off SET search_path = pg_catalog, pg_temp
AS $f$
DECLARE
  cols text[];
  sel text;
  head text;
  line text;
  buf text[] := '{}';
  n int := 0;
  size bigint := 0;
  part int := 0;
BEGIN
  SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum),
         pg_catalog.string_agg(pg_catalog.format('%I::text', a.attname), ', ' ORDER BY a.attnum)
    INTO cols, sel
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
     AND coalesce(pg_catalog.to_jsonb(a) ->> 'attgenerated', '') = '';
  SELECT pg_catalog.json_build_object('schema', ns.nspname, 'name', c.relname, 'columns', coalesce(cols, '{}'))::text
    INTO head
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace ns ON ns.oid = c.relnamespace WHERE c.oid = rel;
  head := pg_catalog.left(head, -1);
  FOR line IN EXECUTE pg_catalog.format('SELECT pg_catalog.json_build_array(%s)::text FROM ONLY %s',
                                        coalesce(sel, ''), rel::pg_catalog.regclass) LOOP
    n := n + 1;
    buf[n] := line;
    size := size + pg_catalog.octet_length(line);
    IF size >= ${ROWS_MESSAGE_BYTES} THEN
      PERFORM pg_catalog.pg_logical_emit_message(true, '${ROWS_MESSAGE_PREFIX}', pg_catalog.convert_to(
        head || ', "part" : ' || part || ', "rows" : [' || pg_catalog.array_to_string(buf[1:n], ',') || ']}', 'UTF8'));
      part := part + 1;
      n := 0;
      size := 0;
    END IF;
  END LOOP;
  IF n > 0 OR part = 0 THEN
    PERFORM pg_catalog.pg_logical_emit_message(true, '${ROWS_MESSAGE_PREFIX}', pg_catalog.convert_to(
      head || ', "part" : ' || part || ', "rows" : [' || pg_catalog.array_to_string(buf[1:n], ',') || ']}', 'UTF8'));
  END IF;
END $f$;
`;

const TRIGGERS: ReadonlyArray<readonly [name: string, event: string, fn: string]> = [
  ['crmb_sql_drop', 'sql_drop', 'on_sql_drop'],
  ['crmb_ddl_end', 'ddl_command_end', 'on_ddl_end'],
  ['crmb_table_rewrite', 'table_rewrite', 'on_table_rewrite'],
];

/** Marks the session so the trigger ignores what this tool runs (publication, replica identity). */
export async function markInternal(client: pg.Client): Promise<void> {
  await client.query(`SELECT set_config('crmb.internal', 'on', false)`);
}

/** The functions the capture schema holds, for doctor and the log. */
const CAPTURE_FUNCTIONS = ['on_ddl_end', 'on_sql_drop', 'on_table_rewrite', 'emit_rewritten', 'emit_missing', 'emit_rows'];

/** The event triggers' names, for doctor and the log. */
export const CAPTURE_TRIGGERS: readonly string[] = TRIGGERS.map(([name]) => name);

/** What DDL capture puts on the source, in words, for doctor and the log. */
export const CAPTURE_OBJECTS = `schema ${CAPTURE_SCHEMA} with its functions (${CAPTURE_FUNCTIONS.map((f) => `${CAPTURE_SCHEMA}.${f}`).join(', ')}), and event triggers ${inWords(CAPTURE_TRIGGERS)} (ENABLE ALWAYS)`;

/** `a`, `a and b`, `a, b and c`. */
export function inWords(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * Installs (idempotently) the capture triggers. They are ENABLE ALWAYS: in a session with
 * session_replication_role = replica (a replication tool, a restore, pg_restore
 * --disable-triggers) they would otherwise not fire, so its DDL would be missing from the log and
 * its new keyless tables would break the application's UPDATE/DELETE. `installed` is false when
 * the user is not a superuser (nothing is installed then); `changes` has one line per thing it
 * created or changed on the source, for the stream's log.
 */
export async function installDdlCapture(
  client: pg.Client,
): Promise<{ installed: boolean; changes: string[] }> {
  const su = await client.query<{ rolsuper: boolean }>(
    `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`,
  );
  if (!su.rows[0]?.rolsuper) {
    // installed by a superuser's stream before: it captures whoever streams now
    const on = await client.query(
      `SELECT 1 FROM pg_event_trigger WHERE evtname = ANY($1) AND evtenabled = 'A'`,
      [CAPTURE_TRIGGERS],
    );
    return { installed: on.rowCount === TRIGGERS.length, changes: [] };
  }
  await markInternal(client);
  // the trigger records the identities it sets through the record's function: it comes first
  const changes = await ensureChangeRecord(client);
  await client.query(INSTALL_SQL);
  const created: string[] = [];
  for (const [name, event, fn] of TRIGGERS) {
    const exists = await client.query<{ enabled: string }>(
      `SELECT evtenabled AS enabled FROM pg_event_trigger WHERE evtname = $1`,
      [name],
    );
    if (!exists.rowCount) {
      await client.query(
        `CREATE EVENT TRIGGER ${name} ON ${event} EXECUTE FUNCTION ${CAPTURE_SCHEMA}.${fn}()`,
      );
      created.push(name);
    }
    if (exists.rows[0]?.enabled !== 'A') await client.query(`ALTER EVENT TRIGGER ${name} ENABLE ALWAYS`);
  }
  if (created.length > 0)
    changes.push(
      `Installed DDL capture on the source: ${CAPTURE_OBJECTS}, which put each schema change into the log in its own transaction and give new tables without a key REPLICA IDENTITY FULL; "stream --drop" removes them.`,
    );
  return { installed: true, changes };
}

/**
 * Removes the triggers and the schema (when no other stream of this database still needs them),
 * after putting back the replica identities the stream changed; returns one line per change.
 * A replica identity that cannot be put back keeps the schema, and its record, for another try.
 */
export async function removeDdlCapture(client: pg.Client): Promise<string[]> {
  await markInternal(client);
  const lines = await restoreIdentities(client);
  const dropped: string[] = [];
  for (const [name] of TRIGGERS) {
    const r = await client.query(`SELECT 1 FROM pg_event_trigger WHERE evtname = $1`, [name]);
    if (!r.rowCount) continue;
    await client.query(`DROP EVENT TRIGGER ${name}`);
    dropped.push(name);
  }
  if (dropped.length > 0)
    lines.push(`Dropped event trigger${dropped.length > 1 ? 's' : ''} ${inWords(dropped)}.`);
  const schema = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [CAPTURE_SCHEMA]);
  if (schema.rowCount) {
    await client.query(`DROP SCHEMA ${CAPTURE_SCHEMA} CASCADE`);
    lines.push(`Dropped schema ${CAPTURE_SCHEMA} and the functions in it.`);
  }
  return lines;
}

/** A table whose replica identity could not be fixed, and why. */
export interface IdentityFailure {
  /** Qualified and quoted, ready for SQL. */
  readonly table: string;
  readonly reason: string;
}

/** A table the stream gave REPLICA IDENTITY FULL, and what it had. */
export interface IdentityFixed {
  /** Qualified and quoted, ready for SQL. */
  readonly table: string;
  /** The setting before: `d`, `n` or `i` (source-changes.ts `identityName`). */
  readonly was: string;
}

export interface FixIdentityOptions {
  /** Attempts per table (default 6); between them waits double from 250 ms. */
  readonly attempts?: number;
  /** lock_timeout of each attempt in ms (default 500): a waiting ALTER queues the application behind it. */
  readonly lockTimeoutMs?: number;
}

const FIX_BACKOFF_FIRST_MS = 250;

/** The line the stream logs for a table it gave REPLICA IDENTITY FULL. */
export function identityFixedLine(f: IdentityFixed): string {
  return `Set REPLICA IDENTITY FULL on table ${f.table} (it was ${identityName(f.was)}, and the table has no primary key or usable replica identity index, so its UPDATEs and DELETEs could not be captured and, once published, would fail); "stream --drop" puts ${identityName(f.was)} back.`;
}

/**
 * Gives every table without a primary key or usable replica identity index REPLICA IDENTITY FULL,
 * recording what it had (source-changes.ts) in the same transaction. Each attempt waits at most a
 * short lock_timeout (the ALTER's lock request blocks the application's queries on the table
 * while it waits); a busy table is retried with backoff. Returns what it changed, the tables it
 * could not change, and a line for the record's schema and function when it had to create them.
 */
export async function fixReplicaIdentity(
  client: pg.Client,
  opts: FixIdentityOptions = {},
): Promise<{ fixed: IdentityFixed[]; failed: IdentityFailure[]; created: string[] }> {
  const attempts = opts.attempts ?? 6;
  const res = await client.query<{ name: string; oid: number; was: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name, c.oid::int AS oid, c.relreplident::text AS was
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', '${CAPTURE_SCHEMA}')
        AND n.nspname NOT LIKE 'pg\\_%' AND ${NEEDS_FULL_IDENTITY} ORDER BY 1`,
  );
  const fixed: IdentityFixed[] = [];
  const failed: IdentityFailure[] = [];
  if (res.rows.length === 0) return { fixed, failed, created: [] };
  const created = await ensureChangeRecord(client);
  for (const { name, oid, was } of res.rows) {
    let reason = '';
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, FIX_BACKOFF_FIRST_MS * 2 ** (attempt - 1)));
      try {
        // one query string: one implicit transaction (the change and its record, or neither) that
        // nothing else on this connection can slip into; `was` and `oid` come from the catalog
        await client.query(
          `SELECT set_config('lock_timeout', '${opts.lockTimeoutMs ?? 500}ms', true);
           ALTER TABLE ${name} REPLICA IDENTITY FULL;
           SELECT ${CAPTURE_SCHEMA}.remember_identity(${oid}, '${was}')`,
        );
        fixed.push({ table: name, was });
        reason = '';
        break;
      } catch (err) {
        reason = ((err as Error).message ?? String(err)).split('\n')[0] ?? 'unknown error';
        const code = (err as { code?: unknown }).code;
        if (code === '42P01') reason = ''; // dropped meanwhile: nothing to fix
        // only a lock wait is worth another attempt (a missing privilege is not)
        if (code !== '55P03') break;
      }
    }
    if (reason) failed.push({ table: name, reason });
  }
  return { fixed, failed, created };
}

/**
 * Content of a `crmb.rows` message: some rows of a table as a rewriting DDL command (a new column's
 * volatile default, ALTER COLUMN ... TYPE) left them, each value the text pgoutput would send, or
 * `null`. Part 0 replaces the table's rows (ONLY the table: partitions and inheritance children are
 * rewritten, and sent, one by one); `error` instead of rows: they could not be read on the source.
 */
export interface RowsMessage {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly string[];
  readonly part: number;
  readonly rows: ReadonlyArray<ReadonlyArray<string | null>>;
  readonly error?: string;
}

export function parseRowsMessage(text: string): RowsMessage {
  const m = JSON.parse(text) as Partial<RowsMessage>;
  if (typeof m.schema !== 'string' || typeof m.name !== 'string')
    throw new Error(`${ROWS_MESSAGE_PREFIX} message names no table.`);
  return {
    schema: m.schema,
    name: m.name,
    columns: m.columns ?? [],
    part: m.part ?? 0,
    rows: m.rows ?? [],
    ...(m.error !== undefined ? { error: m.error } : {}),
  };
}

/** Content of a `crmb.missing` message (MISSING_MESSAGE_PREFIX). */
export interface MissingMessage {
  readonly schema: string;
  readonly name: string;
  readonly column: string;
  readonly value: string | null;
}

export function parseMissingMessage(text: string): MissingMessage {
  const m = JSON.parse(text) as Partial<MissingMessage>;
  if (typeof m.schema !== 'string' || typeof m.name !== 'string' || typeof m.column !== 'string')
    throw new Error(`${MISSING_MESSAGE_PREFIX} message names no column.`);
  return { schema: m.schema, name: m.name, column: m.column, value: m.value ?? null };
}

export function parseDdlMessage(text: string): DdlMessage {
  const m = JSON.parse(text) as Partial<DdlMessage>;
  if (typeof m.sql !== 'string') throw new Error(`${DDL_MESSAGE_PREFIX} message has no SQL text.`);
  return { sql: m.sql, searchPath: m.searchPath ?? 'public', user: m.user ?? '', tag: m.tag ?? '' };
}

/** Statements of a captured query string whose row effects arrive through the stream anyway. */
const ROW_STATEMENT = /^(insert|update|delete|merge|copy|values|table|with|select(?![\s\S]*\binto\b))\b/i;
/** Transaction control: replay runs inside its own transaction. Role changes would stick. */
const SKIPPED_STATEMENT =
  /^(begin|commit|rollback|abort|end|start\s+transaction|savepoint|release|prepare\s+transaction|set\s+(session\s+)?role|set\s+session\s+authorization|reset\s+(role|session|all))\b/i;

/**
 * The statements of a captured query string to execute on replay, in order: the DDL and settings,
 * without row statements (`CREATE TABLE t ...; INSERT INTO t ...` would otherwise load rows the
 * stream also carries) and without transaction control. `SET` becomes `SET LOCAL`.
 */
export function replayStatements(sql: string): string[] {
  return splitStatements(sql)
    .filter((s) => !ROW_STATEMENT.test(s) && !SKIPPED_STATEMENT.test(s))
    .map((s) => (/^set\s+(?!local\b)/i.test(s) ? s.replace(/^set\s+(session\s+)?/i, 'SET LOCAL ') : s));
}

/** Splits SQL text at top-level semicolons, respecting quotes, dollar quotes and comments. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  const push = (end: number): void => {
    const s = stripComments(sql.slice(start, end)).trim();
    if (s) out.push(s);
  };
  while (i < n) {
    const ch = sql[i] as string;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const escapes = ch === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/\w/.test(sql[i - 2] ?? '');
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === ch && sql[i + 1] === ch) i += 2;
        else if (sql[i] === ch) break;
        else i++;
      }
      i++;
    } else if (ch === '-' && next === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (ch === '/' && next === '*') {
      let depth = 0;
      do {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      } while (i < n && depth > 0);
    } else if (ch === '$' && !/\w/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
      } else i++;
    } else if (ch === ';') {
      push(i);
      start = ++i;
    } else i++;
  }
  push(n);
  return out;
}

/** Leading comments only: they would hide the statement's first keyword from the filters. */
function stripComments(s: string): string {
  let t = s.trimStart();
  for (;;) {
    if (t.startsWith('--')) t = t.slice(t.indexOf('\n') < 0 ? t.length : t.indexOf('\n') + 1).trimStart();
    else if (t.startsWith('/*') && t.includes('*/')) t = t.slice(t.indexOf('*/') + 2).trimStart();
    else return t;
  }
}
