/**
 * Preflight (`crm-backup doctor`) for MySQL and MariaDB: every setting, privilege and risky table
 * that would make a snapshot, stream or restore fail or silently miss data. Each finding's message
 * is one sentence of what was found and what was expected; the remedy is in `fix` only (the core
 * prints both). A check reports the same id and subject whether it passes or not, for every need.
 */
import type { Finding, Need, Severity } from '../../src/driver/finding.js';
import { serverInfo, type Session } from './internal/connection.js';

const list = (names: readonly string[], max = 5): string =>
  names.slice(0, max).join(', ') + (names.length > max ? ` and ${names.length - max} more` : '');

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : v == null ? '' : String(v));

async function variables(s: Session): Promise<Map<string, string>> {
  const rows = await s.query(
    `SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_bin', 'binlog_format', 'binlog_row_image',
       'binlog_row_metadata', 'gtid_mode', 'gtid_strict_mode', 'binlog_expire_logs_seconds', 'expire_logs_days',
       'server_id', 'lower_case_table_names', 'local_infile', 'log_bin_basename')`,
  );
  return new Map(rows.map((r) => [text(r.Variable_name).toLowerCase(), text(r.Value)]));
}

/** The current user's privileges: global ones, and those on `database` (ALL expanded by the server's names). */
async function privileges(s: Session, database: string): Promise<Set<string>> {
  const out = new Set<string>();
  const add = (rows: Record<string, unknown>[]): void => {
    for (const r of rows) out.add(text(r.p).toUpperCase());
  };
  add(await s.query('SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES'));
  add(
    await s.query(
      'SELECT PRIVILEGE_TYPE AS p FROM information_schema.SCHEMA_PRIVILEGES WHERE ? LIKE TABLE_SCHEMA',
      [database],
    ),
  );
  return out;
}

export async function preflight(s: Session, need: Need, database: string): Promise<Finding[]> {
  const out: Finding[] = [];
  const push = (f: Finding): void => void out.push(f);
  const server = await serverInfo(s);
  const v = await variables(s);
  const mariadb = server.flavour === 'mariadb';
  const label = mariadb ? 'MariaDB' : 'MySQL';
  const tooOld = mariadb ? server.versionNumber < 100500 : server.versionNumber < 80000;
  push({
    id: 'mysql.version',
    severity: tooOld ? 'error' : 'ok',
    message: tooOld
      ? `The server is ${label} ${server.version}; crm-backup needs MariaDB 10.5 or later, or MySQL 8.0 or later.`
      : `The server is ${label} ${server.version}.`,
    ...(tooOld ? { fix: 'Upgrade the server.' } : {}),
  });

  if (need === 'restore') {
    const infile = v.get('local_infile') ?? '';
    const on = /^(on|1)$/i.test(infile);
    push({
      id: 'mysql.local_infile',
      severity: on ? 'ok' : 'error',
      message: on
        ? 'local_infile is ON: the restore can bulk-load tables with LOAD DATA LOCAL INFILE.'
        : `local_infile is "${infile || 'OFF'}"; the restore loads tables with LOAD DATA LOCAL INFILE, which needs it ON.`,
      ...(on
        ? {}
        : { fix: 'SET GLOBAL local_infile = ON; (and local_infile = ON in the server configuration)' }),
    });
    const privs = await privileges(s, database);
    const all = privs.has('ALL PRIVILEGES') || privs.has('ALL');
    const needed = [
      'CREATE',
      'DROP',
      'ALTER',
      'INSERT',
      'SELECT',
      'UPDATE',
      'DELETE',
      'INDEX',
      'CREATE VIEW',
      'CREATE ROUTINE',
      'ALTER ROUTINE',
      'TRIGGER',
      'EVENT',
      'REFERENCES',
    ];
    const missing = all ? [] : needed.filter((p) => !privs.has(p));
    push({
      id: 'mysql.privilege',
      subject: 'restore',
      severity: missing.length ? 'error' : 'ok',
      message: missing.length
        ? `The user lacks ${list(missing)} on database ${database}; a restore creates tables, views, routines, triggers and events and loads rows.`
        : `The user may create and load every kind of object in database ${database}.`,
      ...(missing.length ? { fix: `GRANT ${missing.join(', ')} ON \`${database}\`.* TO <user>;` } : {}),
    });
    const logAdmin =
      all || privs.has('SUPER') || privs.has('BINLOG ADMIN') || privs.has('SYSTEM_VARIABLES_ADMIN');
    push({
      id: 'mysql.sql_log_bin',
      severity: logAdmin ? 'ok' : 'info',
      message: logAdmin
        ? "The restore can keep its loads out of the target's binlog (sql_log_bin = 0)."
        : "The user may not set sql_log_bin, so every restored row is also written to the target's binlog (and to its replicas).",
      ...(logAdmin
        ? {}
        : {
            fix: mariadb
              ? 'GRANT BINLOG ADMIN ON *.* TO <user>; to keep restores out of the binlog.'
              : 'GRANT SYSTEM_VARIABLES_ADMIN ON *.* TO <user>; to keep restores out of the binlog.',
          }),
    });
    return out;
  }

  // the source: a position needs the binlog, and the change log needs it row-based and complete
  const stream = need === 'stream';
  const logBin = /^(on|1)$/i.test(v.get('log_bin') ?? '');
  push({
    id: 'mysql.log_bin',
    severity: logBin ? 'ok' : 'error',
    message: logBin
      ? 'Binary logging is on (log_bin).'
      : `Binary logging is off (log_bin = OFF); ${stream ? 'the change log is read from the binlog' : 'a snapshot records the binlog position the change log continues from'}, so it must be on.`,
    ...(logBin
      ? {}
      : {
          fix: 'Set log-bin = binlog (and a server-id) in the server configuration and restart the server.',
        }),
  });
  const format = (v.get('binlog_format') ?? '').toUpperCase();
  const severe = (bad: boolean): Severity => (!bad ? 'ok' : stream ? 'error' : 'warning');
  push({
    id: 'mysql.binlog_format',
    severity: severe(format !== 'ROW'),
    message:
      format === 'ROW'
        ? 'binlog_format is ROW.'
        : `binlog_format is ${format || 'unknown'}; the change log needs ROW, because statement events cannot be replayed to exactly the rows the source changed.`,
    ...(format === 'ROW'
      ? {}
      : { fix: "SET GLOBAL binlog_format = 'ROW'; and binlog_format = ROW in the server configuration." }),
  });
  const image = (v.get('binlog_row_image') ?? '').toUpperCase();
  const imageWhy: Record<string, string> = {
    MINIMAL:
      'MINIMAL logs only the changed columns and the key of an UPDATE or DELETE, so the log cannot show old values and a table without a primary key cannot be replayed exactly',
    NOBLOB:
      'NOBLOB leaves unchanged BLOB and TEXT columns out of row images, so a row whose key is not enough to find it (a table without a primary key) cannot be replayed exactly and the log cannot show those values',
  };
  push({
    id: 'mysql.binlog_row_image',
    severity: severe(image !== 'FULL'),
    message:
      image === 'FULL'
        ? 'binlog_row_image is FULL: updates and deletes log whole rows.'
        : `binlog_row_image is ${image || 'unknown'}; exact replay needs FULL: ${imageWhy[image] ?? 'only FULL logs whole rows'}.`,
    ...(image === 'FULL'
      ? {}
      : {
          fix: "SET GLOBAL binlog_row_image = 'FULL'; and binlog_row_image = FULL in the server configuration.",
        }),
  });
  if (v.has('binlog_row_metadata')) {
    const meta = (v.get('binlog_row_metadata') ?? '').toUpperCase();
    push({
      id: 'mysql.binlog_row_metadata',
      severity: severe(meta !== 'FULL'),
      message:
        meta === 'FULL'
          ? 'binlog_row_metadata is FULL: row events carry column names and signedness.'
          : `binlog_row_metadata is ${meta}; the change log needs FULL, because it reads column names and signedness (an UNSIGNED value above the signed maximum) from the row events.`,
      ...(meta === 'FULL'
        ? {}
        : {
            fix: "SET GLOBAL binlog_row_metadata = 'FULL'; and binlog_row_metadata = FULL in the server configuration.",
          }),
    });
  } else {
    push({
      id: 'mysql.binlog_row_metadata',
      severity: severe(true),
      message: `${label} ${server.version} has no binlog_row_metadata; the change log needs FULL row metadata (column names and signedness), which MariaDB 10.5 and MySQL 8.0 have.`,
      fix: 'Upgrade the server.',
    });
  }
  if (mariadb) {
    push({
      id: 'mysql.gtid',
      severity: 'ok',
      message: `MariaDB GTIDs are on (gtid_strict_mode = ${v.get('gtid_strict_mode') ?? 'unknown'}); positions carry the GTID state.`,
    });
  } else {
    const gtid = (v.get('gtid_mode') ?? 'OFF').toUpperCase();
    push({
      id: 'mysql.gtid',
      severity: gtid === 'ON' ? 'ok' : stream ? 'warning' : 'info',
      message:
        gtid === 'ON'
          ? 'gtid_mode is ON; positions carry the GTID set.'
          : `gtid_mode is ${gtid}; positions are binlog file and offset only, so a stream cannot follow the source through a failover and transactions cannot be named by GTID.`,
      ...(gtid === 'ON'
        ? {}
        : { fix: 'Enable GTIDs (enforce_gtid_consistency = ON, then gtid_mode = ON step by step).' }),
    });
  }
  const seconds =
    Number(v.get('binlog_expire_logs_seconds') ?? 0) || Number(v.get('expire_logs_days') ?? 0) * 86400;
  const short = seconds > 0 && seconds < 86400;
  push({
    id: 'mysql.binlog_retention',
    severity: !short ? 'ok' : stream ? 'warning' : 'info',
    message:
      seconds === 0
        ? 'Binlogs are kept until purged by hand (no binlog_expire_logs_seconds nor expire_logs_days).'
        : `Binlogs are kept ${Math.round(seconds / 3600)} h${short ? '; a stream stopped longer than that loses its place and leaves a gap in the log' : ''}.`,
    ...(short
      ? {
          fix: 'SET GLOBAL binlog_expire_logs_seconds = 604800; (7 days) or more than the longest stream outage you plan for.',
        }
      : {}),
  });
  const serverId = Number(v.get('server_id') ?? 0);
  push({
    id: 'mysql.server_id',
    severity: serverId === 0 && stream ? 'error' : 'ok',
    message:
      serverId === 0
        ? 'server_id is 0; a server that streams its binlog to a reader needs a non-zero server_id.'
        : `server_id is ${serverId}.`,
    ...(serverId === 0
      ? {
          fix: 'Set server-id to a number unique among your servers in the server configuration and restart.',
        }
      : {}),
  });
  const lctn = v.get('lower_case_table_names') ?? '0';
  push({
    id: 'mysql.lower_case_table_names',
    severity: lctn === '0' ? 'ok' : 'info',
    message: `lower_case_table_names is ${lctn}${lctn === '0' ? '' : '; restore into a server with the same setting, or table names may change case or collide'}.`,
  });

  // privileges of the backup user
  const privs = await privileges(s, database);
  const all = privs.has('ALL PRIVILEGES') || privs.has('ALL');
  const has = (...names: string[]): boolean => all || names.some((n) => privs.has(n));
  const objects =
    (
      await s.query(
        `SELECT (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ?) AS views,
            (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?) AS triggers,
            (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS events`,
        [database, database, database],
      )
    )[0] ?? {};
  const wanted: Array<[string, boolean, string, string[]]> = stream
    ? [
        [
          'REPLICATION SLAVE',
          true,
          'the change log reads the binlog as a replica does',
          ['REPLICATION SLAVE'],
        ],
        [
          mariadb ? 'BINLOG MONITOR' : 'REPLICATION CLIENT',
          true,
          'the change log asks for the binlog position and the list of binlogs',
          ['REPLICATION CLIENT', 'BINLOG MONITOR'],
        ],
        ['SELECT', true, 'the change log reads table definitions', ['SELECT']],
      ]
    : [
        ['SELECT', true, 'a snapshot reads every row', ['SELECT']],
        [
          'SHOW VIEW',
          Number(text(objects.views)) > 0,
          'a snapshot reads the definitions of the views',
          ['SHOW VIEW'],
        ],
        [
          'TRIGGER',
          Number(text(objects.triggers)) > 0,
          'a snapshot reads the definitions of the triggers',
          ['TRIGGER'],
        ],
        [
          'EVENT',
          Number(text(objects.events)) > 0,
          'a snapshot reads the definitions of the events',
          ['EVENT'],
        ],
        [
          'RELOAD',
          true,
          `a snapshot with --jobs above 1 stops commits for a moment (${mariadb ? 'BACKUP STAGE' : 'FLUSH TABLES WITH READ LOCK'}) so that every worker sees the same state`,
          ['RELOAD'],
        ],
        [
          mariadb ? 'BINLOG MONITOR' : 'REPLICATION CLIENT',
          !mariadb,
          'a snapshot reads the binlog position',
          ['REPLICATION CLIENT', 'BINLOG MONITOR'],
        ],
      ];
  for (const [name, required, why, any] of wanted) {
    if (!required) continue;
    const ok = has(...any);
    const optional = name === 'RELOAD';
    push({
      id: 'mysql.privilege',
      subject: name,
      severity: ok ? 'ok' : optional ? 'warning' : 'error',
      message: ok ? `The user has ${name}.` : `The user lacks ${name}; ${why}.`,
      ...(ok
        ? {}
        : {
            fix: `GRANT ${name} ON ${['SELECT', 'SHOW VIEW', 'TRIGGER', 'EVENT'].includes(name) ? `\`${database}\`.*` : '*.*'} TO <user>;${optional ? ' (or take snapshots with --jobs 1)' : ''}`,
          }),
    });
  }

  // tables: keys and engines
  const tables = await s.query(
    `SELECT t.TABLE_NAME AS name, t.ENGINE AS engine, t.TABLE_TYPE AS type,
            EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS c
                     WHERE c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
                       AND c.CONSTRAINT_TYPE = 'PRIMARY KEY') AS pk
       FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = ? AND t.TABLE_TYPE IN ('BASE TABLE', 'SYSTEM VERSIONED')
      ORDER BY t.TABLE_NAME`,
    [database],
  );
  for (const t of tables) {
    const name = `${database}.${text(t.name)}`;
    if (Number(text(t.pk)) === 0)
      push({
        id: 'mysql.primary_key',
        subject: name,
        severity: stream ? 'warning' : 'info',
        message: stream
          ? `Table ${name} has no primary key; a replayed UPDATE or DELETE finds its row by every column, which is slow and cannot tell identical rows apart.`
          : `Table ${name} has no primary key; a snapshot reads it whole, in one stream.`,
        fix: `ALTER TABLE ${name} ADD PRIMARY KEY (…);`,
      });
    if (text(t.type) === 'SYSTEM VERSIONED')
      push({
        id: 'mysql.system_versioned',
        subject: name,
        severity: 'error',
        message: `Table ${name} is WITH SYSTEM VERSIONING; a logical snapshot cannot restore its history exactly, so a snapshot that includes it is refused.`,
        fix: `Snapshot the other tables with --tables, or ALTER TABLE ${name} DROP SYSTEM VERSIONING;`,
      });
    const engine = text(t.engine);
    if (engine && !/^innodb$/i.test(engine))
      push({
        id: 'mysql.engine',
        subject: name,
        severity: 'warning',
        message: `Table ${name} uses ${engine}, which is not transactional: a snapshot reads it as it is at that moment, not as of the snapshot's position, so writes during the snapshot may be partly in it, and ${stream ? 'a change that fails half-way is logged half-done' : 'the restore may differ from the source at that position'}.`,
        fix: `ALTER TABLE ${name} ENGINE = InnoDB;`,
      });
  }
  return out;
}
