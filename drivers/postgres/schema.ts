/**
 * The schema of a snapshot (`pg-schema/1`): pg_dump's pre-data and post-data sections taken at
 * the snapshot's exported snapshot, the column lists the data streams were written with, and the
 * sequence values. pg_dump is used for the schema only; data never goes through it.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type pg from 'pg';
import { AbortError, SourceError } from '../../src/util/errors.js';
import { scrub } from '../../src/util/redact.js';
import type { PgEndpoint } from './internal/connection.js';
import { CAPTURE_SCHEMA } from './internal/ddl-capture.js';
import { tableNames } from './names.js';
import type { SequenceValue } from './internal/sequences.js';
import type { SnapshotOptions } from '../../src/driver/source-driver.js';

export const SCHEMA_FORMAT = 'pg-schema/1';

export interface TableColumns {
  readonly schema: string;
  readonly name: string;
  /** Columns in COPY order; generated columns are left out (COPY cannot write them). */
  readonly columns: readonly string[];
}

export interface SchemaDocument {
  readonly format: typeof SCHEMA_FORMAT;
  readonly serverVersion: number;
  readonly preData: string;
  readonly postData: string;
  readonly tables: readonly TableColumns[];
  readonly sequences: readonly SequenceValue[];
  /** Materialized views that were populated, in creation order; pg_dump --schema-only leaves them empty. */
  readonly matviews?: readonly { readonly schema: string; readonly name: string }[];
}

export function encodeSchema(doc: SchemaDocument): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(doc));
}

export function decodeSchema(bytes: Uint8Array, format: string): SchemaDocument {
  if (format !== SCHEMA_FORMAT) {
    throw new SourceError(
      `The snapshot schema has format "${format}"; this driver reads "${SCHEMA_FORMAT}".`,
    );
  }
  const doc = JSON.parse(new TextDecoder().decode(bytes)) as SchemaDocument;
  if (doc.format !== SCHEMA_FORMAT)
    throw new SourceError(`The snapshot schema is not a "${SCHEMA_FORMAT}" document.`);
  return doc;
}

/** pg_dump of the server's major when installed side by side, else the one on PATH. */
export function findPgDump(serverMajor: number): string {
  const sideBySide = join('/usr/lib/postgresql', String(serverMajor), 'bin', 'pg_dump');
  if (existsSync(sideBySide)) return sideBySide;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'pg_dump'))) return join(dir, 'pg_dump');
  }
  throw new SourceError(
    `pg_dump was not found on PATH or in /usr/lib/postgresql/${serverMajor}/bin; install the PostgreSQL ${serverMajor} client tools (it is used for the schema only).`,
  );
}

interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'], signal });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      signal?.aborted ? reject(new AbortError('interrupted', { cause: e })) : reject(e),
    );
    child.on('close', (code) =>
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
      }),
    );
  });
}

/** Refuses a pg_dump older than the server: it cannot read newer catalogs correctly. */
export async function checkPgDump(bin: string, serverMajor: number): Promise<void> {
  const { stdout } = await run(bin, ['--version'], process.env);
  const major = Number(/(\d+)(?:\.\d+)?/.exec(stdout)?.[1] ?? 0);
  if (major < serverMajor) {
    throw new SourceError(
      `pg_dump at ${bin} is version ${major} but the server is ${serverMajor}; install the PostgreSQL ${serverMajor} client tools (pg_dump must be at least as new as the server).`,
    );
  }
}

/** Connection settings go through the environment so that no secret is on a command line. */
function dumpEnv(target: PgEndpoint): NodeJS.ProcessEnv {
  const c = target.config;
  // UTF8 whatever the database's or role's client_encoding: the schema text is read as UTF-8
  const env: NodeJS.ProcessEnv = { ...process.env, PGAPPNAME: 'crm-backup', PGCLIENTENCODING: 'UTF8' };
  env.PGHOST = String(c.host ?? 'localhost');
  env.PGPORT = String(c.port ?? 5432);
  env.PGUSER = String(c.user ?? 'postgres');
  env.PGDATABASE = target.database;
  if (typeof c.password === 'string') env.PGPASSWORD = c.password;
  else delete env.PGPASSWORD;
  if (c.ssl) env.PGSSLMODE = 'require';
  return env;
}

/** One pg_dump section, read at the exported snapshot. */
export async function dumpSection(
  target: PgEndpoint,
  opts: {
    bin: string;
    snapshot: string;
    section: 'pre-data' | 'post-data';
    withPrivileges: boolean;
    signal?: AbortSignal;
  },
): Promise<string> {
  const args = ['--schema-only', `--section=${opts.section}`, `--snapshot=${opts.snapshot}`];
  // our own publication and subscriptions (which would connect somewhere) are not the CRM's schema
  args.push('--no-publications', '--no-subscriptions', '--no-tablespaces');
  // the change log's DDL capture lives in the source only; on a target it would start capturing
  args.push(`--exclude-schema=${CAPTURE_SCHEMA}`);
  if (!opts.withPrivileges) args.push('--no-owner', '--no-privileges');
  const r = await run(opts.bin, args, dumpEnv(target), opts.signal);
  if (r.code !== 0) {
    const secrets = typeof target.config.password === 'string' ? [target.config.password] : [];
    const first =
      scrub(r.stderr, secrets)
        .split('\n')
        .find((l) => l.trim()) ?? `exit code ${r.code}`;
    throw new SourceError(
      `pg_dump of the ${opts.section} schema of ${target.display} failed: ${first.trim()}`,
      {
        source: target.display,
      },
    );
  }
  return withoutCaptureTriggers(r.stdout);
}

/**
 * pg_dump's script split at its table-of-contents comments (`-- Name: x; Type: INDEX; …`), one
 * entry per object; the text before the first entry (SET statements) comes first, untyped.
 */
export function dumpEntries(dump: string): { type: string; name: string; sql: string }[] {
  const parts = dump.split(/^(?=--\n-- (?:Data for )?Name: )/m);
  return parts.map((sql) => {
    const m = /^--\n-- (?:Data for )?Name: (.*?); Type: (.*?);/.exec(sql);
    return { name: m?.[1] ?? '', type: m?.[2] ?? '', sql };
  });
}

/** Event triggers are global, so --exclude-schema keeps them; ours call functions in that schema. */
function withoutCaptureTriggers(dump: string): string {
  return dumpEntries(dump)
    .filter((e) => !(e.type === 'EVENT TRIGGER' && e.name.startsWith(`${CAPTURE_SCHEMA}_`)))
    .map((e) => e.sql)
    .join('');
}

/** pg_dump output without psql meta-commands (`\restrict`, `\connect`), which the server cannot run. */
export function sqlOf(dump: string): string {
  return dump
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n');
}

/** Runs a whole section as one simple-protocol query: one implicit transaction, all or nothing. */
export async function runSection(client: pg.Client, sql: string): Promise<void> {
  const text = sqlOf(sql);
  if (text.trim()) await client.query(text);
}

export interface SnapshotTable extends TableColumns {
  readonly bytes: number;
  /** The partitioned table at the top of this leaf partition's tree, when it is one. */
  readonly root: string | undefined;
}

/**
 * Tables whose rows are read: plain tables and leaf partitions (COPY cannot read a partitioned
 * parent), unlogged included, temporary and extension-owned ones not. Largest first, so the
 * longest copy starts early and parallel workers finish together.
 */
export async function listTables(
  client: pg.Client,
  serverVersion: number,
  opts: Pick<SnapshotOptions, 'schemas' | 'tables'>,
): Promise<SnapshotTable[]> {
  const generated = serverVersion >= 120000 ? "AND a.attgenerated = ''" : '';
  const root =
    serverVersion >= 120000
      ? "CASE WHEN c.relispartition THEN (SELECT rn.nspname || '.' || r.relname FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace WHERE r.oid = pg_partition_root(c.oid)) END"
      : 'NULL';
  const { rows } = await client.query<{
    schema: string;
    name: string;
    bytes: string;
    root: string | null;
    columns: string[];
  }>(
    `SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid)::text AS bytes, ${root} AS root,
       (SELECT coalesce(json_agg(a.attname ORDER BY a.attnum), '[]') FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped ${generated}) AS columns
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'r' AND c.relpersistence IN ('p', 'u')
       AND n.nspname NOT IN ('information_schema', '${CAPTURE_SCHEMA}') AND n.nspname NOT LIKE 'pg\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                       AND d.objid = c.oid AND d.deptype = 'e')
       AND ($1::text[] IS NULL OR n.nspname = ANY($1))
     ORDER BY pg_relation_size(c.oid) DESC, 1, 2`,
    [opts.schemas?.length ? opts.schemas : null],
  );
  const wanted = opts.tables?.length ? tableNames.matcher(opts.tables) : undefined;
  const picked = (t: { schema: string; name: string; root: string | null }): boolean =>
    !wanted || wanted(`${t.schema}.${t.name}`) || (t.root !== null && wanted(t.root));
  return rows.filter(picked).map((r) => ({
    schema: r.schema,
    name: r.name,
    columns: r.columns,
    bytes: Number(r.bytes),
    root: r.root ?? undefined,
  }));
}

/** Populated materialized views, oldest first (a view built on another is usually newer). */
export async function listMatviews(client: pg.Client): Promise<{ schema: string; name: string }[]> {
  const { rows } = await client.query<{ schema: string; name: string }>(
    `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'm' AND c.relispopulated AND n.nspname <> '${CAPTURE_SCHEMA}' AND n.nspname NOT LIKE 'pg\\_%'
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
     ORDER BY c.oid`,
  );
  return rows;
}
