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
 * Known limits: a query string mixing DDL with DML is replayed whole (its rows then arrive twice);
 * volatile defaults (`ADD COLUMN ... DEFAULT random()`) get new values on the target.
 */
import type pg from 'pg';

export const DDL_MESSAGE_PREFIX = 'crmb.ddl';
export const SEQUENCES_MESSAGE_PREFIX = 'crmb.sequences';
export const CAPTURE_SCHEMA = 'crmb';

/** Content of a `crmb.ddl` message. */
export interface DdlMessage {
  readonly sql: string;
  readonly searchPath: string;
  readonly user: string;
  readonly tag: string;
}

const NEEDS_FULL_IDENTITY = `c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
  AND (c.relreplident = 'n' OR (c.relreplident = 'd'
       AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)))`;

const INSTALL_SQL = `
CREATE SCHEMA IF NOT EXISTS ${CAPTURE_SCHEMA};
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.on_sql_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
  -- ddl_command_end cannot see what a DROP removed; remember here when it was only ours or temporary
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects()
                 WHERE NOT is_temporary AND coalesce(schema_name, '') <> '${CAPTURE_SCHEMA}') THEN
    PERFORM set_config('crmb.skip_ddl', 'on', true);
  END IF;
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'crm-backup DDL capture: %', SQLERRM;
END $f$;
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.on_ddl_end() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
  total int;
  skipped int;
  key text;
  stmt text := current_query();
  r record;
BEGIN
  IF current_setting('crmb.internal', true) = 'on' THEN RETURN; END IF;
  IF current_setting('crmb.skip_ddl', true) = 'on' THEN
    PERFORM set_config('crmb.skip_ddl', 'off', true);
    RETURN;
  END IF;
  SELECT count(*), count(*) FILTER (WHERE schema_name = '${CAPTURE_SCHEMA}' OR schema_name LIKE 'pg\\_temp%' OR in_extension)
    INTO total, skipped FROM pg_event_trigger_ddl_commands();
  IF total > 0 AND total = skipped THEN RETURN; END IF;
  -- a published table without a key makes the application's UPDATE/DELETE fail: give it one now,
  -- in the same transaction as the DDL, so there is no window
  PERFORM set_config('crmb.internal', 'on', true);
  FOR r IN SELECT DISTINCT c.oid FROM pg_event_trigger_ddl_commands() d JOIN pg_class c ON c.oid = d.objid
           WHERE d.classid = 'pg_class'::regclass AND ${NEEDS_FULL_IDENTITY} LOOP
    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', r.oid::regclass);
  END LOOP;
  PERFORM set_config('crmb.internal', 'off', true);
  -- one message per query string, not one per statement inside it
  key := md5(stmt) || statement_timestamp()::text;
  IF current_setting('crmb.last_ddl', true) = key THEN RETURN; END IF;
  PERFORM set_config('crmb.last_ddl', key, true);
  IF tg_tag IN ('CREATE TABLE AS', 'SELECT INTO') THEN
    -- its rows are decoded as inserts; replaying the query as well would load them twice
    SELECT 'CREATE TABLE ' || c.oid::regclass::text || ' (' ||
           string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) || ')'
      INTO stmt
      FROM pg_event_trigger_ddl_commands() d JOIN pg_class c ON c.oid = d.objid
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE d.classid = 'pg_class'::regclass AND c.relkind = 'r'
     GROUP BY c.oid;
  END IF;
  PERFORM pg_logical_emit_message(true, '${DDL_MESSAGE_PREFIX}', json_build_object(
    'sql', stmt, 'searchPath', current_setting('search_path'), 'user', session_user::text, 'tag', tg_tag)::text);
EXCEPTION WHEN OTHERS THEN
  RAISE WARNING 'crm-backup DDL capture: %', SQLERRM;
END $f$;
`;

const TRIGGERS: ReadonlyArray<readonly [name: string, event: string, fn: string]> = [
  ['crmb_sql_drop', 'sql_drop', 'on_sql_drop'],
  ['crmb_ddl_end', 'ddl_command_end', 'on_ddl_end'],
];

/** Marks the session so the trigger ignores what this tool runs (publication, replica identity). */
export async function markInternal(client: pg.Client): Promise<void> {
  await client.query(`SELECT set_config('crmb.internal', 'on', false)`);
}

/** Installs (idempotently) the capture triggers; false when the user is not a superuser. */
export async function installDdlCapture(client: pg.Client): Promise<boolean> {
  const su = await client.query<{ rolsuper: boolean }>(`SELECT rolsuper FROM pg_roles WHERE rolname = current_user`);
  if (!su.rows[0]?.rolsuper) return false;
  await markInternal(client);
  await client.query(INSTALL_SQL);
  for (const [name, event, fn] of TRIGGERS) {
    const exists = await client.query(`SELECT 1 FROM pg_event_trigger WHERE evtname = $1`, [name]);
    if (exists.rowCount) continue;
    await client.query(`CREATE EVENT TRIGGER ${name} ON ${event} EXECUTE FUNCTION ${CAPTURE_SCHEMA}.${fn}()`);
  }
  return true;
}

/** Removes the triggers and the schema (when no other stream of this database still needs them). */
export async function removeDdlCapture(client: pg.Client): Promise<void> {
  await markInternal(client);
  for (const [name] of TRIGGERS) await client.query(`DROP EVENT TRIGGER IF EXISTS ${name}`);
  await client.query(`DROP SCHEMA IF EXISTS ${CAPTURE_SCHEMA} CASCADE`);
}

/**
 * Gives every published table without a primary key or replica identity index REPLICA IDENTITY
 * FULL (with a short lock timeout). Returns the tables it could not change, with the reason.
 */
export async function fixReplicaIdentity(client: pg.Client): Promise<string[]> {
  const res = await client.query<{ name: string }>(
    `SELECT c.oid::regclass::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', '${CAPTURE_SCHEMA}')
        AND n.nspname NOT LIKE 'pg\\_%' AND ${NEEDS_FULL_IDENTITY}`,
  );
  const failed: string[] = [];
  for (const { name } of res.rows) {
    try {
      await client.query(`SET lock_timeout = '5s'`);
      await client.query(`ALTER TABLE ${name} REPLICA IDENTITY FULL`);
    } catch (err) {
      failed.push(`${name}: ${(err as Error).message}`);
    } finally {
      await client.query(`RESET lock_timeout`).catch(() => {});
    }
  }
  return failed;
}

export function parseDdlMessage(text: string): DdlMessage {
  const m = JSON.parse(text) as Partial<DdlMessage>;
  if (typeof m.sql !== 'string') throw new Error(`${DDL_MESSAGE_PREFIX} message has no SQL text.`);
  return { sql: m.sql, searchPath: m.searchPath ?? 'public', user: m.user ?? '', tag: m.tag ?? '' };
}
