/**
 * Preflight (`crm-backup doctor`): every setting, privilege and risky table that would make a
 * snapshot, stream or restore fail or silently miss data. Each finding's message is one sentence
 * of what was found and what was expected; the remedy is in `fix` only (the core prints both).
 * A check reports the same id and subject whether it passes or not, and for every need.
 */
import type pg from 'pg';
import type { Finding, Need } from '../../src/driver/finding.js';
import { changeLogNames } from './change-log.js';
import { quoteIdent, quoteQualified } from './internal/connection.js';
import { CAPTURE_OBJECTS, CAPTURE_TRIGGERS, NEEDS_FULL_IDENTITY } from './internal/ddl-capture.js';
import { identityName, recordedIdentities } from './internal/source-changes.js';

const USER_TABLES = `c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

const one = async <T extends pg.QueryResultRow>(c: pg.Client, sql: string): Promise<T> => {
  const row = (await c.query<T>(sql)).rows[0];
  if (!row) throw new Error(`no row from: ${sql}`);
  return row;
};

const list = (names: readonly string[], max = 5): string =>
  names.slice(0, max).join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');

/**
 * Whether `synchronous_standby_names` names a walsender with `applicationName` as a candidate
 * synchronous standby: `*`, or the name among the list of `FIRST n (...)`, `ANY n (...)`,
 * `n (...)` or a plain list. PostgreSQL compares names case-insensitively, quoted or not.
 */
export function syncStandbyMatches(setting: string, applicationName: string): boolean {
  const tokens: Array<{ kind: 'name' | 'star' | 'punct'; text: string }> = [];
  for (let i = 0; i < setting.length;) {
    const ch = setting[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '"') {
      let text = '';
      for (i++; i < setting.length; i++) {
        if (setting[i] === '"' && setting[i + 1] === '"') text += setting[i++];
        else if (setting[i] === '"') break;
        else text += setting[i];
      }
      i++;
      tokens.push({ kind: 'name', text });
    } else if (ch === '*') {
      tokens.push({ kind: 'star', text: ch });
      i++;
    } else if (ch === ',' || ch === '(' || ch === ')') {
      tokens.push({ kind: 'punct', text: ch });
      i++;
    } else {
      const m = /^[^\s",()*]+/.exec(setting.slice(i));
      const text = m?.[0] ?? ch;
      tokens.push({ kind: 'name', text });
      i += text.length;
    }
  }
  // `FIRST n (` / `ANY n (` / `n (`: the keyword and the count are not standby names
  let list = tokens;
  const open = tokens.findIndex((t) => t.kind === 'punct' && t.text === '(');
  if (open >= 0) list = tokens.slice(open + 1);
  const wanted = applicationName.toLowerCase();
  // a quoted "*" is a wildcard too (PostgreSQL compares the parsed name with "*")
  return list.some(
    (t) => t.kind === 'star' || (t.kind === 'name' && (t.text === '*' || t.text.toLowerCase() === wanted)),
  );
}

/**
 * `name` is the source's name in the repository: with it, a stream's findings also say what the
 * stream has installed on the source or will install there (its slot, its publication).
 */
export async function preflight(c: pg.Client, need: Need, opts: { name?: string } = {}): Promise<Finding[]> {
  const out: Finding[] = [];
  const s = await one<{
    version: string;
    num: string;
    wal_level: string;
    max_slots: string;
    used_slots: string;
    max_senders: string;
    used_senders: string;
    keep: string;
    role: string;
    rolsuper: boolean;
    rolrepl: boolean;
    can_create: boolean;
    db: string;
    sync_names: string;
    app_name: string;
  }>(
    c,
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
      current_setting('wal_level') AS wal_level, current_setting('max_replication_slots') AS max_slots,
      (SELECT count(*) FROM pg_replication_slots)::text AS used_slots,
      current_setting('max_wal_senders') AS max_senders,
      (SELECT count(*) FROM pg_stat_replication)::text AS used_senders,
      coalesce(current_setting('max_slot_wal_keep_size', true), '') AS keep,
      r.rolname AS role, r.rolsuper,
      -- Amazon RDS and Aurora grant replication through membership of rds_replication
      r.rolreplication OR coalesce((SELECT pg_has_role(r.oid, x.oid, 'MEMBER') FROM pg_roles x WHERE x.rolname = 'rds_replication'), false) AS rolrepl,
      has_database_privilege(current_database(), 'CREATE') AS can_create, current_database() AS db,
      current_setting('synchronous_standby_names') AS sync_names, current_setting('application_name') AS app_name
    FROM pg_roles r WHERE r.rolname = current_user`,
  );
  const num = Number(s.num);
  const role = quoteIdent(s.role);
  const decoding = need === 'snapshot' || need === 'stream';

  if (num < 100000) {
    out.push({
      id: 'pg.version',
      severity: 'error',
      message: `PostgreSQL ${s.version} is too old; logical decoding with pgoutput needs 10 or newer.`,
      fix: 'Upgrade PostgreSQL to 15 or newer.',
    });
  } else {
    out.push({
      id: 'pg.version',
      severity: num < 150000 ? 'info' : 'ok',
      message:
        num < 150000
          ? `PostgreSQL ${s.version} works; 15 or newer is recommended (tested most, faster logical decoding of large transactions).`
          : `PostgreSQL ${s.version}.`,
    });
  }
  if (decoding) {
    out.push(
      s.wal_level === 'logical'
        ? { id: 'pg.wal_level', severity: 'ok', subject: 'wal_level', message: 'wal_level is "logical".' }
        : {
            id: 'pg.wal_level',
            severity: 'error',
            subject: 'wal_level',
            message: `wal_level is "${s.wal_level}"; logical decoding needs "logical".`,
            fix: 'Set wal_level = logical in postgresql.conf and restart PostgreSQL.',
          },
    );
    const freeSlots = Number(s.max_slots) - Number(s.used_slots);
    out.push(
      freeSlots > 0
        ? {
            id: 'pg.replication_slots',
            severity: 'ok',
            subject: 'max_replication_slots',
            message: `${freeSlots} of ${s.max_slots} replication slots are free.`,
          }
        : {
            id: 'pg.replication_slots',
            severity: 'error',
            subject: 'max_replication_slots',
            message: `All ${s.max_slots} replication slots are in use; a snapshot or stream needs one free slot.`,
            fix: 'Raise max_replication_slots (restart needed) or drop unused slots with pg_drop_replication_slot().',
          },
    );
    const freeSenders = Number(s.max_senders) - Number(s.used_senders);
    out.push(
      freeSenders > 0
        ? {
            id: 'pg.wal_senders',
            severity: 'ok',
            subject: 'max_wal_senders',
            message: `${freeSenders} of ${s.max_senders} WAL senders are free.`,
          }
        : {
            id: 'pg.wal_senders',
            severity: 'error',
            subject: 'max_wal_senders',
            message: `All ${s.max_senders} WAL senders are busy; a snapshot or stream needs one.`,
            fix: 'Raise max_wal_senders (restart needed).',
          },
    );
    out.push(
      s.rolsuper || s.rolrepl
        ? {
            id: 'pg.role_replication',
            severity: 'ok',
            subject: s.role,
            message: `Role ${role} may use logical replication.`,
          }
        : {
            id: 'pg.role_replication',
            severity: 'error',
            subject: s.role,
            message: `Role ${role} has neither the REPLICATION attribute nor superuser; logical decoding needs one of them.`,
            fix: `ALTER ROLE ${role} REPLICATION;`,
          },
    );
    const unreadable = await c.query<{ t: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_TABLES} AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 1`,
    );
    if (unreadable.rows.length) {
      out.push({
        id: 'pg.read_tables',
        severity: 'error',
        subject: unreadable.rows[0]?.t,
        message: `Role ${role} cannot read ${unreadable.rows.length} table(s) (${list(unreadable.rows.map((r) => r.t))}); a snapshot must read every table.`,
        fix:
          num >= 140000
            ? `GRANT pg_read_all_data TO ${role};`
            : `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}; (and each other schema)`,
      });
    }
  }
  if (need === 'stream' && !s.can_create && !s.rolsuper) {
    out.push({
      id: 'pg.create_publication',
      severity: 'error',
      subject: s.db,
      message: `Role ${role} lacks CREATE on database ${quoteIdent(s.db)}; streaming creates a publication there.`,
      fix: `GRANT CREATE ON DATABASE ${quoteIdent(s.db)} TO ${role};`,
    });
  }
  if (need === 'restore' && !s.can_create && !s.rolsuper) {
    out.push({
      id: 'pg.create_target',
      severity: 'error',
      subject: s.db,
      message: `Role ${role} lacks CREATE on database ${quoteIdent(s.db)}; a restore creates schemas and tables there.`,
      fix: `GRANT CREATE ON DATABASE ${quoteIdent(s.db)} TO ${role};`,
    });
  }
  if (need === 'stream' && syncStandbyMatches(s.sync_names, s.app_name)) {
    // a logical walsender reports as flushed only what the repository stored: every commit would wait for a segment
    out.push({
      id: 'pg.synchronous_standby_names',
      severity: 'error',
      subject: 'synchronous_standby_names',
      message: `synchronous_standby_names ('${s.sync_names}') matches the stream's application_name "${s.app_name}", so every commit on this server would wait until the stream stores a segment.`,
      fix: `Name only the real standbys there: ALTER SYSTEM SET synchronous_standby_names = '<your standbys, without "*" or "${s.app_name}">'; SELECT pg_reload_conf();`,
    });
  }
  if (need === 'stream' && s.keep === '-1') {
    out.push({
      id: 'pg.max_slot_wal_keep_size',
      severity: 'warning',
      subject: 'max_slot_wal_keep_size',
      message:
        'max_slot_wal_keep_size is -1 (unlimited); a stream that stops for long keeps WAL until the disk is full.',
      fix: "Set max_slot_wal_keep_size (e.g. '50GB') so an abandoned slot is invalidated instead, and monitor the stream.",
    });
  }
  if (decoding) {
    const sequences = await c.query<{ t: string }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'S' AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
          AND NOT has_table_privilege(c.oid, 'SELECT') ORDER BY 1`,
    );
    if (sequences.rows.length) {
      out.push({
        id: 'pg.read_sequences',
        severity: 'error',
        subject: sequences.rows[0]?.t,
        message: `Role ${role} cannot read ${sequences.rows.length} sequence(s) (${list(sequences.rows.map((r) => r.t))}); snapshots and the stream record every sequence's value.`,
        fix:
          num >= 140000
            ? `GRANT pg_read_all_data TO ${role};`
            : `GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}; (and each other schema)`,
      });
    }
  }
  if (need === 'stream')
    out.push(...(await streamChanges(c, { role: s.role, superuser: s.rolsuper, name: opts.name })));
  if (decoding) out.push(...(await tableFindings(c, need, { role: s.role, superuser: s.rolsuper })));
  out.push(...(await extensionFindings(c)));
  return out;
}

async function tableFindings(
  c: pg.Client,
  need: Need,
  who: { role: string; superuser: boolean },
): Promise<Finding[]> {
  const out: Finding[] = [];
  if (need === 'stream') {
    // without a key or REPLICA IDENTITY FULL, UPDATE/DELETE cannot be decoded (or replayed) by
    // row: the stream sets FULL itself where the role may (its owner's rights), and says so
    const noKey = await c.query<{
      schema: string;
      name: string;
      owner: boolean;
    }>(`SELECT n.nspname AS schema, c.relname AS name, pg_has_role(c.relowner, 'USAGE') AS owner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_TABLES} AND ${NEEDS_FULL_IDENTITY} ORDER BY 1, 2`);
    for (const t of noKey.rows) {
      const q = quoteQualified(t.schema, t.name);
      out.push(
        who.superuser || t.owner
          ? {
              id: 'pg.replica_identity',
              severity: 'info',
              subject: `${t.schema}.${t.name}`,
              message: `Table ${q} has no primary key and no usable replica identity; the stream sets REPLICA IDENTITY FULL on it, so that its UPDATEs and DELETEs are logged with the whole old row, and "stream --drop" puts the setting back.`,
            }
          : {
              id: 'pg.replica_identity',
              severity: 'error',
              subject: `${t.schema}.${t.name}`,
              message: `Table ${q} has no primary key and no usable replica identity, and role ${quoteIdent(who.role)} may not set REPLICA IDENTITY FULL on it (it lacks its owner's rights), so its UPDATEs and DELETEs cannot be captured.`,
              fix: `ALTER TABLE ${q} REPLICA IDENTITY FULL; (as its owner)`,
            },
      );
    }
    for (const r of await recordedIdentities(c)) {
      if (r.now !== 'f') continue;
      out.push({
        id: 'pg.replica_identity',
        severity: 'info',
        subject: r.table,
        message: `Table ${r.table} has REPLICA IDENTITY FULL, set by the stream (it was ${identityName(r.was)}); "stream --drop" puts ${r.was === 'd' ? 'DEFAULT' : 'NOTHING'} back.`,
      });
    }
  }
  const unlogged = await c.query<{ t: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ${USER_TABLES} AND c.relpersistence = 'u' ORDER BY 1`,
  );
  if (unlogged.rows.length) {
    out.push({
      id: 'pg.unlogged_tables',
      severity: 'warning',
      subject: unlogged.rows[0]?.t,
      message: `${unlogged.rows.length} unlogged table(s) (${list(unlogged.rows.map((r) => r.t))}) are in snapshots but not in the WAL, so their changes are not streamed.`,
      fix: 'ALTER TABLE … SET LOGGED; for tables whose changes must survive a point-in-time restore.',
    });
  }
  const lo = await c.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_largeobject_metadata');
  if (Number(lo.rows[0]?.n ?? 0) > 0) {
    out.push({
      id: 'pg.large_objects',
      severity: 'warning',
      message: `The database holds ${lo.rows[0]?.n} large object(s) (pg_largeobject); they are not captured by snapshots or streams.`,
      fix: 'Store the contents in bytea columns, or back large objects up separately with pg_dump --large-objects.',
    });
  }
  return out;
}

/**
 * What the stream has installed on the source or will install there: its replication slot and
 * publication (by `name`, the source's name in the repository), DDL capture, and whether the role
 * may do what a publication that lists the tables needs (a role that is not a superuser).
 */
async function streamChanges(
  c: pg.Client,
  who: { role: string; superuser: boolean; name?: string },
): Promise<Finding[]> {
  const out: Finding[] = [];
  const role = quoteIdent(who.role);
  const names = who.name === undefined ? undefined : changeLogNames(who.name);
  let listed = !who.superuser;
  if (names) {
    const pub = await c.query<{ all: boolean; tables: number }>(
      `SELECT p.puballtables AS all, (SELECT count(*)::int FROM pg_publication_rel r WHERE r.prpubid = p.oid) AS tables
         FROM pg_publication p WHERE p.pubname = $1`,
      [names.publication],
    );
    const p = pub.rows[0];
    if (p) listed = !p.all;
    out.push({
      id: 'pg.publication',
      severity: p ? 'ok' : 'info',
      subject: names.publication,
      message: p
        ? `Publication ${names.publication} exists (${p.all ? 'FOR ALL TABLES' : `listing ${p.tables} table(s), to which the stream adds new tables`}), created by the stream.`
        : who.superuser
          ? `The stream will create publication ${names.publication} FOR ALL TABLES.`
          : `The stream will create publication ${names.publication} listing the tables, since role ${role} is not a superuser, and add tables created later within seconds.`,
    });
    const slot = await c.query<{ active: boolean; retained: string | null }>(
      `SELECT active, pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS retained
         FROM pg_replication_slots WHERE slot_name = $1`,
      [names.slot],
    );
    const sl = slot.rows[0];
    out.push({
      id: 'pg.stream_slot',
      severity: sl ? 'ok' : 'info',
      subject: names.slot,
      message: sl
        ? `Replication slot ${names.slot} exists (${sl.active ? 'in use by a running stream' : 'no stream running'}${sl.retained ? `, keeping ${sl.retained} of WAL` : ''}), created by the stream.`
        : `The stream will create replication slot ${names.slot}, which keeps the WAL the stream has not stored yet, also while the stream is stopped.`,
    });
  }
  const triggers = await c.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_event_trigger WHERE evtname = ANY($1) AND evtenabled = 'A'`,
    [CAPTURE_TRIGGERS],
  );
  const installed = triggers.rows[0]?.n === CAPTURE_TRIGGERS.length;
  out.push(
    installed
      ? { id: 'pg.ddl_capture', severity: 'ok', message: `DDL capture is installed: ${CAPTURE_OBJECTS}.` }
      : who.superuser
        ? {
            id: 'pg.ddl_capture',
            severity: 'info',
            message: `The stream will install DDL capture: ${CAPTURE_OBJECTS}.`,
          }
        : {
            id: 'pg.ddl_capture',
            severity: 'warning',
            message: `Role ${role} is not a superuser, so the stream cannot install DDL capture (event triggers), and schema changes made while streaming are not in the log.`,
            fix: 'Take a snapshot after each schema change (crm-backup migrate takes one before), or stream as a superuser.',
          },
  );
  if (listed) {
    // a listed publication: the role must have the owner's rights on every table it lists or adds
    const foreign = await c.query<{ t: string; owner: string; su: boolean }>(
      `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS t, o.rolname AS owner, o.rolsuper AS su
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles o ON o.oid = c.relowner
        WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p' AND NOT c.relispartition
          AND ${USER_TABLES.replace("c.relkind = 'r' AND ", '')} AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1`,
    );
    if (foreign.rows.length) {
      const owners = [...new Set(foreign.rows.map((r) => r.owner))];
      const suOwned = foreign.rows.some((r) => r.su);
      out.push({
        id: 'pg.table_owner',
        severity: 'error',
        subject: who.role,
        message: `Role ${role} lacks the owner's rights on ${foreign.rows.length} table(s) (${list(foreign.rows.map((r) => r.t))}), which a publication listing them needs (only a superuser may publish FOR ALL TABLES).`,
        fix: suOwned
          ? `Give the tables an owner that is not a superuser and grant it to ${role} (ALTER TABLE … OWNER TO crm_owner; GRANT crm_owner TO ${role};), or stream as a superuser.`
          : `GRANT ${owners.map(quoteIdent).join(', ')} TO ${role};`,
      });
    }
  }
  return out;
}

async function extensionFindings(c: pg.Client): Promise<Finding[]> {
  const ext = await c.query<{ e: string }>(
    "SELECT extname || ' ' || extversion AS e FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
  );
  if (!ext.rows.length) return [];
  return [
    {
      id: 'pg.extensions',
      severity: 'info',
      message: `Extensions in use: ${ext.rows.map((r) => r.e).join(', ')}; the restore target must have them available.`,
    },
  ];
}

/**
 * Replay runs with session_replication_role = replica, so the target's triggers and foreign-key
 * actions do not fire a second time for changes the source already made. Setting it needs a
 * superuser, or (PostgreSQL 15+) the SET privilege on that parameter.
 */
export async function replayPrivilege(c: pg.Client): Promise<Finding[]> {
  const r = await c.query<{ role: string; ok: boolean }>(
    `SELECT current_user AS role,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
            OR (current_setting('server_version_num')::int >= 150000
                AND has_parameter_privilege(current_user, 'session_replication_role', 'SET')) AS ok`,
  );
  const row = r.rows[0];
  if (!row || row.ok) return [];
  const role = quoteIdent(row.role);
  return [
    {
      id: 'pg.replay_privilege',
      severity: 'error',
      subject: row.role,
      message: `Role ${role} cannot set session_replication_role, which replaying the log needs (so the target's triggers do not fire twice).`,
      fix: `GRANT SET ON PARAMETER session_replication_role TO ${role}; (PostgreSQL 15+) or restore as a superuser.`,
    },
  ];
}
