/**
 * `assertEmpty` for a MySQL/MariaDB target: the database must hold no table, view, routine,
 * trigger or event. With `clean`, what the snapshot's schema recreates is dropped (same kind and
 * name), and only when nothing else is there: a restore never drops what it does not recreate.
 */
import type { DroppedObjects } from '../../../src/driver/target-driver.js';
import { SourceError } from '../../../src/util/errors.js';
import type { SchemaDocument } from '../schema.js';
import { firstLine, quoteIdent, type MysqlEndpoint, type Session } from './connection.js';

interface Present {
  readonly kind: 'table' | 'view' | 'procedure' | 'function' | 'trigger' | 'event';
  readonly name: string;
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : v == null ? '' : String(v));

async function present(s: Session, db: string): Promise<Present[]> {
  const rows = await s.query(
    `SELECT IF(TABLE_TYPE = 'VIEW', 'view', 'table') AS kind, TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?
     UNION ALL SELECT LOWER(ROUTINE_TYPE), ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?
     UNION ALL SELECT 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?
     UNION ALL SELECT 'event', EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?`,
    [db, db, db, db],
  );
  return rows.map((r) => ({ kind: text(r.kind) as Present['kind'], name: text(r.name) }));
}

function recreated(doc: SchemaDocument | undefined): Set<string> {
  const out = new Set<string>();
  if (!doc) return out;
  for (const t of doc.tables) out.add(`table ${t.name}`);
  // information_schema lists a sequence as a table, and DROP TABLE drops it
  for (const q of doc.sequences ?? []) out.add(`table ${q.name}`);
  for (const v of doc.views) out.add(`view ${v.name}`);
  for (const r of doc.routines) out.add(`${(r.kind ?? '').toLowerCase()} ${r.name}`);
  for (const t of doc.triggers) out.add(`trigger ${t.name}`);
  for (const e of doc.events) out.add(`event ${e.name}`);
  return out;
}

const describe = (objs: readonly Present[], max = 5): string =>
  objs
    .slice(0, max)
    .map((o) => `${o.kind} ${o.name}`)
    .join(', ') + (objs.length > max ? ` and ${objs.length - max} more` : '');

export async function assertEmptyDatabase(
  s: Session,
  target: MysqlEndpoint,
  opts: { clean: boolean; doc: SchemaDocument | undefined },
): Promise<DroppedObjects[]> {
  const db = target.database;
  const objs = await present(s, db);
  if (objs.length === 0) return [];
  if (!opts.clean)
    throw new SourceError(
      `The target database ${db} on ${target.display} is not empty: it holds ${objs.length} object(s), for example ${describe(objs, 3)}; restore into an empty database, or pass --clean to drop what the restore recreates.`,
      { source: target.display },
    );
  const ours = recreated(opts.doc);
  const foreign = objs.filter((o) => !ours.has(`${o.kind} ${o.name}`));
  if (foreign.length)
    throw new SourceError(
      `The target database ${db} on ${target.display} holds ${foreign.length} object(s) the snapshot does not create (${describe(foreign)}); --clean drops only what the restore recreates, so drop or move those first.`,
      { source: target.display },
    );
  const q = (n: string): string => `${quoteIdent(db)}.${quoteIdent(n)}`;
  const order: Present['kind'][] = ['event', 'trigger', 'view', 'procedure', 'function', 'table'];
  const dropped: DroppedObjects[] = [];
  try {
    await s.query('SET SESSION foreign_key_checks = 0');
    for (const kind of order) {
      const names = objs.filter((o) => o.kind === kind).map((o) => o.name);
      for (const n of names) await s.query(`DROP ${kind.toUpperCase()} IF EXISTS ${q(n)}`);
      if (names.length) dropped.push({ kind, names: names.map((n) => `${db}.${n}`) });
    }
  } catch (err) {
    throw new SourceError(
      `Cleaning the target database ${db} on ${target.display} failed: ${firstLine(err)}.`,
      {
        cause: err,
        source: target.display,
      },
    );
  }
  return dropped;
}
