/**
 * What the stream changes on the source besides its slot, publication and DDL capture: the
 * REPLICA IDENTITY of tables without a key. Each change is recorded where `stream --drop` finds it
 * again, so that it puts back exactly what the stream changed and nothing the DBA set: the
 * comment of the stream's schema `crmb`, as JSON (`{"replicaIdentity": {"<table oid>": {"table":
 * "public.t", "was": "d"}}}`). A comment is catalog data: it is neither published to the change
 * log nor in a snapshot (pg_dump leaves `crmb` out), unlike a table there would be. It is written
 * through `crmb.remember_identity`, a SECURITY DEFINER function, because the DDL capture trigger
 * records the tables it fixes inside the application's own DDL transaction, as the application's
 * role; an advisory lock serialises the writers.
 *
 * `stream --drop` restores a recorded table only while it still has REPLICA IDENTITY FULL (a
 * setting the DBA changed since is theirs), and only once no other stream of this database needs
 * it (change-log.ts). A table that had USING INDEX of an index since dropped behaved as NOTHING,
 * and gets NOTHING back.
 */
import type pg from 'pg';

/** The schema of everything the stream installs on the source (ddl-capture.ts re-exports it). */
export const CAPTURE_SCHEMA = 'crmb';

/** Serialises read-modify-writes of the record (pg_advisory_xact_lock key). */
const RECORD_LOCK = 0x63726d62; // "crmb"

/** Creates (or updates) the schema and the function that records identities; idempotent. */
const RECORD_SQL = `
CREATE SCHEMA IF NOT EXISTS ${CAPTURE_SCHEMA};
CREATE OR REPLACE FUNCTION ${CAPTURE_SCHEMA}.remember_identity(rel pg_catalog.oid, was "char") RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $f$
DECLARE
  doc jsonb;
BEGIN
  PERFORM pg_advisory_xact_lock(${RECORD_LOCK});
  doc := coalesce(obj_description('${CAPTURE_SCHEMA}'::regnamespace, 'pg_namespace'), '{}')::jsonb;
  -- the first record is the setting before crm-backup touched it: keep it
  IF doc #> ARRAY['replicaIdentity', rel::text] IS NOT NULL THEN RETURN; END IF;
  doc := jsonb_set(doc, '{replicaIdentity}', coalesce(doc -> 'replicaIdentity', '{}'::jsonb)
         || jsonb_build_object(rel::text, jsonb_build_object('table', rel::regclass::text, 'was', was)));
  EXECUTE format('COMMENT ON SCHEMA ${CAPTURE_SCHEMA} IS %L', doc::text);
END $f$;`;

/** REPLICA IDENTITY as ALTER TABLE spells it. */
export function identityName(code: string): string {
  return (
    ({ d: 'DEFAULT', n: 'NOTHING', f: 'FULL', i: 'USING INDEX' } as Record<string, string>)[code] ?? code
  );
}

/**
 * The schema and the recording function, created when missing (or replaced by a newer version);
 * returns one line per thing created, for the stream's log.
 */
export async function ensureChangeRecord(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ schema: boolean; fn: boolean; mine: boolean }>(
    `SELECT to_regnamespace($1) IS NOT NULL AS schema, p.oid IS NOT NULL AS fn,
            coalesce(pg_has_role(p.proowner, 'USAGE'), false) AS mine
       FROM (SELECT to_regprocedure($1 || '.remember_identity(oid,"char")') AS oid) f
       LEFT JOIN pg_proc p ON p.oid = f.oid`,
    [CAPTURE_SCHEMA],
  );
  // kept up to date by whoever owns it (a superuser's stream may have made it for DDL capture)
  if (!rows[0]?.fn || rows[0].mine) await client.query(RECORD_SQL);
  if (rows[0]?.fn) return [];
  return [
    `Created ${rows[0]?.schema ? '' : `schema ${CAPTURE_SCHEMA} and `}function ${CAPTURE_SCHEMA}.remember_identity on the source, which records the REPLICA IDENTITY of each table the stream changes so that "stream --drop" can put it back.`,
  ];
}

/** A table whose replica identity crm-backup changed, as recorded. */
export interface RecordedIdentity {
  readonly oid: number;
  /** Qualified as recorded; the current name when the table still exists. */
  readonly table: string;
  /** The setting before (`d`, `n`, `i`). */
  readonly was: string;
  /** The setting now, or undefined when the table is gone. */
  readonly now: string | undefined;
}

/** The record (empty without schema `crmb` or a comment on it). */
export async function recordedIdentities(client: pg.Client): Promise<RecordedIdentity[]> {
  const { rows } = await client.query<{
    oid: string;
    recorded: string;
    was: string;
    table: string | null;
    now: string | null;
  }>(
    `SELECT r.key AS oid, r.value ->> 'table' AS recorded, r.value ->> 'was' AS was,
            CASE WHEN c.oid IS NOT NULL THEN format('%I.%I', n.nspname, c.relname) END AS table, c.relreplident::text AS now
       FROM jsonb_each(coalesce(obj_description(to_regnamespace($1), 'pg_namespace'), '{}')::jsonb -> 'replicaIdentity') r
       LEFT JOIN pg_class c ON c.oid = r.key::oid
       LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
      ORDER BY 2`,
    [CAPTURE_SCHEMA],
  );
  return rows.map((r) => ({
    oid: Number(r.oid),
    table: r.table ?? r.recorded,
    was: r.was,
    now: r.now ?? undefined,
  }));
}

/**
 * Puts back the recorded replica identities that are still FULL; returns one line per table, for
 * the user. The record itself goes with schema `crmb`.
 */
export async function restoreIdentities(client: pg.Client): Promise<string[]> {
  const lines: string[] = [];
  for (const r of await recordedIdentities(client)) {
    if (r.now !== 'f') continue;
    // USING INDEX of a dropped or invalid index behaved as NOTHING: that is what it gets back
    const back = r.was === 'd' ? 'DEFAULT' : 'NOTHING';
    await client.query(`ALTER TABLE ${r.table} REPLICA IDENTITY ${back}`);
    lines.push(
      `Set REPLICA IDENTITY ${back} on table ${r.table} again, as it was before the stream set FULL${r.was === 'i' ? ' (it was USING INDEX of an index that no longer exists, which behaves as NOTHING)' : ''}.`,
    );
  }
  return lines;
}
