/**
 * Whether a restore target is empty, and `restore --clean`: drop exactly what the restore is about
 * to create, nothing else.
 *
 * What the restore creates is read from the snapshot's schema: pg_dump's table of contents
 * (`-- Name: contacts; Type: TABLE; Schema: public`), one entry per object. What the target holds
 * is read from its catalogs: every object that belongs to a user schema (pg_depend's namespace
 * dependencies, so no kind is forgotten), user schemas and extensions, less extension members and
 * objects that are internal parts of another (a table's row type, an identity sequence). An
 * object matches when its kind, schema and name do (a routine: its name and argument types, as
 * pg_dump writes them).
 *
 * The target holds something the snapshot does not create: refuse, naming it, before anything is
 * dropped (a restore never removes data it cannot put back). Then the drops are checked through
 * pg_depend: anything that would go with them by CASCADE and is not part of one of them (another
 * table's foreign key, a column default, a cast, an event trigger) refuses too. Only then is
 * everything dropped, in one transaction, and the caller told what, by kind.
 */
import type pg from 'pg';
import type { DroppedObjects } from '../../../src/driver/target-driver.js';
import { SourceError } from '../../../src/util/errors.js';
import { dumpEntries, type SchemaDocument } from '../schema.js';
import { quoteIdent, type PgEndpoint } from './connection.js';

/** Objects named in a refusal; the count says how many there are in all. */
const NAMED_MAX = 10;

/** User objects: relations, standalone types and routines outside system schemas and extensions. */
const USER_OBJECTS = `
  WITH user_ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'),
  ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
  SELECT kind, ns.nspname || '.' || obj AS name FROM (
    SELECT 'table' AS kind, relnamespace AS ns, relname::text AS obj, oid FROM pg_class
      WHERE relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT 'type', typnamespace, typname::text, oid FROM pg_type
      WHERE typtype IN ('e', 'd', 'r', 'm') OR (typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = typrelid) = 'c')
    UNION ALL
    SELECT 'function', pronamespace, proname::text, oid FROM pg_proc
  ) o JOIN user_ns ns ON ns.oid = o.ns
  WHERE o.oid NOT IN (SELECT objid FROM ext)
  ORDER BY 1 DESC, 2`;

/**
 * Every object in a user schema, with what identifies it for a match and for a DROP. Run with an
 * empty search_path, as pg_dump runs: type names in signatures are then qualified as in its dump.
 */
const SCHEMA_MEMBERS = `
  WITH user_ns AS (
    SELECT oid FROM pg_catalog.pg_namespace
     WHERE nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%')
  SELECT d.classid::int AS classid, d.objid::int AS objid, o.type, o.schema, coalesce(o.name, o.identity) AS name,
         o.identity,
         CASE WHEN d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
           (SELECT p.proname || '(' || coalesce((SELECT pg_catalog.string_agg(pg_catalog.format_type(a.t, NULL), ', ' ORDER BY a.i)
                                                 FROM pg_catalog.unnest(p.proargtypes::pg_catalog.oid[]) WITH ORDINALITY a(t, i)), '') || ')'
              FROM pg_catalog.pg_proc p WHERE p.oid = d.objid) END AS signature,
         CASE WHEN d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass THEN
           (SELECT typtype::text FROM pg_catalog.pg_type WHERE oid = d.objid) END AS typtype
    FROM pg_catalog.pg_depend d
    JOIN user_ns ON user_ns.oid = d.refobjid
    CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, 0) o
   WHERE d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.deptype = 'n'
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend x
                      WHERE x.classid = d.classid AND x.objid = d.objid AND x.deptype IN ('e', 'i'))
   ORDER BY 3, 4, 5`;

/**
 * What dropping `$1/$2` (classid/objid pairs) with CASCADE would take along that is not one of
 * them nor part of one of them: a part is what depends on a dropped object by anything but a
 * normal dependency (an index, a constraint of the same table, a row type, an extension member).
 */
const OUTSIDE_DEPENDENTS = `
  WITH RECURSIVE reach(classid, objid, part) AS (
    SELECT c, o, true FROM unnest($1::pg_catalog.oid[], $2::pg_catalog.oid[]) AS d(c, o)
    UNION
    SELECT d.classid, d.objid, r.part AND d.deptype <> 'n'
      FROM pg_catalog.pg_depend d JOIN reach r ON d.refclassid = r.classid AND d.refobjid = r.objid
     WHERE d.classid <> 0
  )
  SELECT pg_catalog.pg_describe_object(classid, objid, 0) AS what FROM reach
   GROUP BY classid, objid HAVING NOT pg_catalog.bool_or(part)
   ORDER BY 1`;

interface Member {
  readonly classid: number;
  readonly objid: number;
  readonly type: string;
  readonly schema: string;
  readonly name: string;
  readonly identity: string;
  readonly signature: string | null;
  readonly typtype: string | null;
}

/** pg_dump's entry types and pg_identify_object's types, reduced to what must match. */
const DUMP_KIND: Record<string, string> = {
  TABLE: 'relation',
  VIEW: 'relation',
  'MATERIALIZED VIEW': 'relation',
  SEQUENCE: 'relation',
  'FOREIGN TABLE': 'relation',
  TYPE: 'type',
  DOMAIN: 'type',
  FUNCTION: 'routine',
  PROCEDURE: 'routine',
  AGGREGATE: 'routine',
  STATISTICS: 'statistics object',
};
const CATALOG_KIND: Record<string, string> = {
  table: 'relation',
  view: 'relation',
  'materialized view': 'relation',
  sequence: 'relation',
  'foreign table': 'relation',
  type: 'type',
  'composite type': 'type',
  domain: 'type',
  function: 'routine',
  procedure: 'routine',
  aggregate: 'routine',
};

const key = (kind: string, schema: string, name: string): string => `${kind}\u0000${schema}\u0000${name}`;

/** What the snapshot's schema creates: object keys, schemas and extensions. */
export function createdBy(doc: SchemaDocument | undefined): {
  objects: Set<string>;
  schemas: Set<string>;
  extensions: Set<string>;
} {
  const objects = new Set<string>();
  const schemas = new Set<string>();
  const extensions = new Set<string>();
  if (doc) {
    for (const e of [...dumpEntries(doc.preData), ...dumpEntries(doc.postData)]) {
      const schema = /; Schema: (.*?);/.exec(e.sql)?.[1] ?? '-';
      if (e.type === 'SCHEMA') schemas.add(e.name);
      else if (e.type === 'EXTENSION') extensions.add(e.name);
      else if (e.type) objects.add(key(DUMP_KIND[e.type] ?? e.type.toLowerCase(), schema, e.name));
    }
  }
  return { objects, schemas, extensions };
}

function memberKey(m: Member): string {
  const kind = CATALOG_KIND[m.type] ?? m.type;
  return key(kind, m.schema, kind === 'routine' ? (m.signature ?? m.name) : m.name);
}

/** The DROP statement's object type for a catalog type. */
function dropKind(m: Member): string {
  if (m.typtype === 'd') return 'DOMAIN';
  if (m.type === 'composite type') return 'TYPE';
  if (m.type === 'statistics object') return 'STATISTICS';
  return m.type.toUpperCase();
}

/** As users read it: qualified, a routine with its argument types as pg_dump writes them. */
const display = (m: Member): string => (m.signature ? `${m.schema}.${m.signature}` : m.identity);

const listed = (names: readonly string[]): string =>
  names.slice(0, NAMED_MAX).join(', ') +
  (names.length > NAMED_MAX ? ` and ${names.length - NAMED_MAX} more` : '');

/**
 * Refuses a target that holds user objects; with `clean`, drops those the restore creates from
 * `doc` (see the top of this file) and returns them by kind.
 */
export async function assertEmptyDatabase(
  c: pg.Client,
  target: PgEndpoint,
  opts: { clean: boolean; doc?: SchemaDocument },
): Promise<DroppedObjects[]> {
  // a schema the restore creates is in the way even when empty: --clean looks at everything
  if (opts.clean) return clean(c, target, opts.doc);
  const { rows } = await c.query<{ kind: string; name: string }>(USER_OBJECTS);
  const ext = await c.query<{ extname: string }>(
    "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'",
  );
  const count = rows.length + ext.rows.length;
  if (count > 0) {
    const first = rows[0] ? `${rows[0].kind} ${rows[0].name}` : `extension ${ext.rows[0]?.extname ?? ''}`;
    throw new SourceError(
      `The target database ${target.display} is not empty: it holds ${count} user object(s), for example ${first}; restore into an empty database, or pass --clean to drop them first.`,
      { source: target.display },
    );
  }
  return [];
}

async function clean(
  c: pg.Client,
  target: PgEndpoint,
  doc: SchemaDocument | undefined,
): Promise<DroppedObjects[]> {
  const created = createdBy(doc);
  await c.query('BEGIN');
  try {
    // pg_dump's way of naming types in signatures: qualified unless in pg_catalog
    await c.query(`SET LOCAL search_path = ''`);
    const members = (await c.query<Member>(SCHEMA_MEMBERS)).rows;
    const schemas = (
      await c.query<{ nspname: string }>(
        `SELECT nspname FROM pg_catalog.pg_namespace
          WHERE nspname NOT IN ('information_schema', 'public') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
      )
    ).rows.map((r) => r.nspname);
    const extensions = (
      await c.query<{ oid: number; extname: string }>(
        `SELECT oid::int AS oid, extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql' ORDER BY 2`,
      )
    ).rows;

    const drop = members.filter((m) => created.objects.has(memberKey(m)));
    const others = [
      ...members.filter((m) => !created.objects.has(memberKey(m))).map((m) => `${m.type} ${display(m)}`),
      ...extensions.filter((e) => !created.extensions.has(e.extname)).map((e) => `extension ${e.extname}`),
    ];
    if (others.length > 0) {
      throw new SourceError(
        `The target database ${target.display} holds ${others.length} object(s) the snapshot does not create (${listed(others)}), and --clean drops only what the restore recreates; drop them yourself or restore into another database.`,
        { source: target.display },
      );
    }
    const dropExtensions = extensions.filter((e) => created.extensions.has(e.extname));
    const extensionClass = (
      await c.query<{ id: number }>(`SELECT 'pg_catalog.pg_extension'::pg_catalog.regclass::int AS id`)
    ).rows[0]!.id;
    const outside = (
      await c.query<{ what: string }>(OUTSIDE_DEPENDENTS, [
        [...drop.map((m) => m.classid), ...dropExtensions.map(() => extensionClass)],
        [...drop.map((m) => m.objid), ...dropExtensions.map((e) => e.oid)],
      ])
    ).rows.map((r) => r.what);
    if (outside.length > 0) {
      throw new SourceError(
        `Dropping what the restore recreates in ${target.display} would also drop ${outside.length} object(s) the snapshot does not create (${listed(outside)}), so --clean drops nothing; remove those yourself or restore into another database.`,
        { source: target.display },
      );
    }
    const dropSchemas = schemas.filter((s) => created.schemas.has(s));
    // nothing else depends on them (checked above), so the order is free: CASCADE takes each
    // one's own parts, IF EXISTS skips what an earlier drop took along (a serial's sequence)
    const statements = [
      ...drop.map((m) => `DROP ${dropKind(m)} IF EXISTS ${m.identity} CASCADE`),
      ...dropExtensions.map((e) => `DROP EXTENSION IF EXISTS ${quoteIdent(e.extname)} CASCADE`),
      // empty by now; RESTRICT: anything left in one makes the whole clean fail, not vanish
      ...dropSchemas.map((s) => `DROP SCHEMA ${quoteIdent(s)}`),
    ];
    for (const sql of statements) await c.query(sql);
    await c.query('COMMIT');
    return dropped(drop, dropExtensions, dropSchemas);
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    if (err instanceof SourceError) throw err;
    throw new SourceError(
      `Cleaning the target database ${target.display} failed, and nothing was dropped: ${((err as Error).message ?? String(err)).split('\n')[0]}.`,
      { cause: err, source: target.display },
    );
  }
}

/** What was dropped, by kind: schemas and extensions first, then the kinds in their catalog names. */
function dropped(
  members: readonly Member[],
  extensions: readonly { extname: string }[],
  schemas: readonly string[],
): DroppedObjects[] {
  const byKind = new Map<string, string[]>();
  const add = (kind: string, name: string): void => {
    const names = byKind.get(kind) ?? [];
    names.push(name);
    byKind.set(kind, names);
  };
  for (const s of schemas) add('schema', s);
  for (const e of extensions) add('extension', e.extname);
  for (const m of members) add(m.typtype === 'd' ? 'domain' : m.type, display(m));
  return [...byKind].map(([kind, names]) => ({ kind, names }));
}
