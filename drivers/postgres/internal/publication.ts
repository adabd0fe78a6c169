/**
 * The stream's publication. A superuser's lists every table (FOR ALL TABLES): a table created
 * later is in it from its first row. PostgreSQL lets no one else create such a publication (nor
 * FOR TABLES IN SCHEMA), and no customer of a managed service (RDS, Cloud SQL, Azure) is a
 * superuser: for any other role the publication lists the tables, which that role must own (or
 * be a member of their owner), and the stream adds each new table within seconds
 * (`addNewTables`, from the housekeeping of change-log-admin.ts).
 *
 * Exactness of a listed publication. Logical decoding publishes a change only when its table was
 * in the publication at that point of the WAL. A new table is added under a SHARE lock, which
 * waits for every transaction writing it to end and holds off new writes until the addition
 * commits: from then on every change is in the log. What was written before is not. So when the
 * table holds rows at that moment, the addition's transaction also carries a `crmb.unpublished`
 * message naming it, and a restore that replays past it refuses (apply.ts), as it cannot
 * reproduce those rows; a snapshot taken after it holds them, and restores from it are exact.
 * The stream says so at once.
 */
import type pg from 'pg';
import { SourceError } from '../../../src/util/errors.js';
import { CAPTURE_SCHEMA, NEEDS_FULL_IDENTITY, type IdentityFixed } from './ddl-capture.js';
import { ensureChangeRecord } from './source-changes.js';

/** Prefix of the message marking a table whose earlier rows are not in the log. */
export const UNPUBLISHED_MESSAGE_PREFIX = 'crmb.unpublished';

/** How long adding a table waits for the application's writes to it, before trying again later. */
const ADD_LOCK_TIMEOUT_MS = 500;

/**
 * Tables a listed publication must hold (alias `t`): permanent user tables and partitioned roots
 * (a root brings its partitions), not extension members nor our own.
 */
const PUBLISHABLE = `t.relkind IN ('r', 'p') AND t.relpersistence = 'p' AND NOT t.relispartition
  AND n.nspname NOT IN ('information_schema', '${CAPTURE_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = t.oid AND d.deptype = 'e')`;

/** Content of a `crmb.unpublished` message. */
interface UnpublishedMessage {
  readonly table: string;
  readonly schema: string;
  readonly name: string;
}

/** Whether the current user may create FOR ALL TABLES publications. */
export async function isSuperuser(client: pg.Client): Promise<boolean> {
  const r = await client.query<{ su: boolean }>(
    `SELECT rolsuper AS su FROM pg_roles WHERE rolname = current_user`,
  );
  return r.rows[0]?.su === true;
}

/** The tables a listed publication holds, qualified and quoted. */
export async function publishableTables(client: pg.Client): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS name
       FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace WHERE ${PUBLISHABLE} ORDER BY 1`,
  );
  return r.rows.map((row) => row.name);
}

/** Creates the publication (see the top of this file); returns the line the stream logs. */
export async function createPublication(client: pg.Client, publication: string): Promise<string> {
  if (await isSuperuser(client)) {
    await client.query(`CREATE PUBLICATION ${publication} FOR ALL TABLES`);
    return `Created publication ${publication} FOR ALL TABLES on the source: logical decoding sends the changes of the tables in a publication only; "stream --drop" removes it.`;
  }
  const tables = await publishableTables(client);
  await client.query(
    `CREATE PUBLICATION ${publication}${tables.length ? ` FOR TABLE ${tables.join(', ')}` : ''}`,
  );
  return `Created publication ${publication} listing the ${tables.length} table(s) of the source, since only a superuser may create one FOR ALL TABLES: the stream adds tables created later within seconds (rows written to one before that are not in the log, and restores to a later time refuse until the next snapshot); "stream --drop" removes it.`;
}

/** One new table added, or why not. */
export interface AddedTable {
  readonly table: string;
  /** It held rows when it was added: they are not in the log. */
  readonly hadRows: boolean;
  /** Tables of it (itself, or partitions) given REPLICA IDENTITY FULL on the way. */
  readonly fixed: readonly IdentityFixed[];
}

/**
 * Adds the tables a listed publication lacks (nothing for FOR ALL TABLES), each in a transaction
 * of its own (see the top of this file) that first gives it (or its partitions) REPLICA IDENTITY
 * FULL where it has no key, recorded (source-changes.ts): published without one, its UPDATEs and
 * DELETEs would fail. Returns what it added and the tables it could not add, with the reason; a
 * lock wait that timed out is tried again at the next call.
 */
export async function addNewTables(
  client: pg.Client,
  publication: string,
): Promise<{ added: AddedTable[]; failed: { table: string; reason: string; code: string | undefined }[] }> {
  const { rows } = await client.query<{ name: string; oid: number; keyless: IdentityFixed[] | null }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(t.relname) AS name, t.oid::int AS oid,
            (SELECT json_agg(json_build_object('table', quote_ident(cn.nspname) || '.' || quote_ident(c.relname), 'was', c.relreplident, 'oid', c.oid::int) ORDER BY c.relname)
               FROM (SELECT t.oid AS relid UNION SELECT relid FROM pg_partition_tree(t.oid)) tree
               JOIN pg_class c ON c.oid = tree.relid JOIN pg_namespace cn ON cn.oid = c.relnamespace
              WHERE ${NEEDS_FULL_IDENTITY}) AS keyless
       FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
      WHERE EXISTS (SELECT 1 FROM pg_publication p WHERE p.pubname = $1 AND NOT p.puballtables)
        AND ${PUBLISHABLE}
        AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr JOIN pg_publication p ON p.oid = pr.prpubid
                         WHERE p.pubname = $1 AND pr.prrelid = t.oid)
      ORDER BY 1`,
    [publication],
  );
  const added: AddedTable[] = [];
  const failed: { table: string; reason: string; code: string | undefined }[] = [];
  if (rows.some((r) => r.keyless)) await ensureChangeRecord(client);
  for (const t of rows) {
    const keyless = (t.keyless ?? []) as (IdentityFixed & { oid: number })[];
    // One query string, so one implicit transaction that nothing else on this connection (an idle
    // marker) can slip into, and that an error rolls back whole. The SHARE lock waits out every
    // transaction writing the table: none can have written before the addition and commit after
    // it, which would be in neither the rows looked at here nor the log.
    const sql = [
      `SELECT set_config('lock_timeout', '${ADD_LOCK_TIMEOUT_MS}ms', true)`,
      `LOCK TABLE ${t.name} IN SHARE MODE`,
      ...keyless.flatMap((k) => [
        `ALTER TABLE ${k.table} REPLICA IDENTITY FULL`,
        `SELECT ${CAPTURE_SCHEMA}.remember_identity(${k.oid}, '${k.was}')`,
      ]),
      `ALTER PUBLICATION ${publication} ADD TABLE ${t.name}`,
      `SELECT EXISTS (SELECT 1 FROM ${t.name}) AS had_rows,
              CASE WHEN EXISTS (SELECT 1 FROM ${t.name}) THEN
                pg_logical_emit_message(true, '${UNPUBLISHED_MESSAGE_PREFIX}', (
                  SELECT json_build_object('table', format('%I.%I', n.nspname, c.relname), 'schema', n.nspname, 'name', c.relname)::text
                    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ${t.oid}))
              END AS message`,
    ].join(';\n');
    try {
      const res = (await client.query(sql)) as unknown as pg.QueryResult<{ had_rows: boolean }>[];
      added.push({
        table: t.name,
        hadRows: res.at(-1)?.rows[0]?.had_rows === true,
        fixed: keyless.map((k) => ({ table: k.table, was: k.was })),
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      // dropped meanwhile: nothing to add
      if (code !== '42P01')
        failed.push({
          table: t.name,
          reason: ((err as Error).message ?? String(err)).split('\n')[0] ?? '',
          code,
        });
    }
  }
  return { added, failed };
}

/** The line the stream logs for a table it added. */
export function addedLine(publication: string, a: AddedTable): string {
  return a.hadRows
    ? `Added table ${a.table} to publication ${publication}, but it already held rows, which are not in the log: restores to a time between now and the next snapshot refuse, so take one now ("crm-backup snapshot").`
    : `Added table ${a.table}, created after the stream started, to publication ${publication}, so that its changes are in the log.`;
}

/**
 * The refusal a restore owes when it replays a `crmb.unpublished` message of a table it restores
 * (`tables`: the restore's table filter, `schema.table` or bare names; all when undefined).
 */
export function unpublishedRowsError(
  text: string,
  tables: ReadonlySet<string> | undefined,
): SourceError | undefined {
  const m = JSON.parse(text) as Partial<UnpublishedMessage>;
  const qualified = `${m.schema ?? ''}.${m.name ?? ''}`;
  if (tables && !tables.has(qualified) && !tables.has(m.name ?? '')) return undefined;
  return new SourceError(
    `Table ${m.table ?? qualified} got rows before the stream could add it to its publication (its role is not a superuser), so the log lacks them and cannot restore it exactly after that point; restore to an earlier time, or from a snapshot taken after it.`,
  );
}
