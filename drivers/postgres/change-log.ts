/**
 * PostgreSQL change log: logical decoding (pgoutput) through a permanent slot `crmb_<name>` and a
 * publication `crmb_<name>` FOR ALL TABLES, or listing the tables when the role is not a superuser
 * (internal/publication.ts) (publish_via_partition_root off: with it, TRUNCATE of a single
 * partition is not published at all; changes arrive under the leaf partitions' names). Every
 * change it makes to the source is logged as one line (what, and why) and undone by
 * `dropPgChangeLog` (internal/source-changes.ts).
 *
 * Contract for source.ts:
 *   openPgChangeLog(target, sourceName, from, opts) -> ChangeLog   (SourceDriver.openChangeLog)
 *   dropPgChangeLog(target, sourceName) -> lines of what it removed (SourceDriver.dropChangeLog)
 *   preparePgChangeLog(client, sourceName)  publication + replica identity + DDL capture, no slot;
 *                                           call it before creating the slot for a snapshot
 *   changeLogNames(sourceName) -> { slot, publication }
 * Items: Transaction (position = commit END LSN, payload `pg-changes/1`, see payload.ts) in commit
 * order, parts of at most PART_MAX_BYTES / PART_MAX_CHANGES with `more` on all but the last, and
 * Heartbeats. Sequence values travel as `crmb.sequences` messages in tiny transactions of their own
 * (transactional, so ordered and positioned like any commit); DDL as `crmb.ddl` (ddl-capture.ts).
 *
 * Acknowledgement: the slot's confirmed_flush_lsn is set to the highest acknowledged position
 * only, never beyond. Heartbeat positions may be acknowledged too (the stream job does, after
 * storing the coverage): that is how an idle CRM stops the slot from retaining WAL, and unlike
 * flushing a keepalive position on our own it keeps `ChangeLog.from` of the next run equal to
 * what the repository holds (no false gap). Why heartbeats are true:
 * internal/transaction-assembly.ts.
 * The publication must exist before the slot: pgoutput reads it with the catalog as of each
 * change, so changes decoded before the publication existed would not be published.
 */
import type pg from 'pg';
import type { ChangeLog, Position, StreamOptions } from '../../src/driver/source-driver.js';
import { SourceError } from '../../src/util/errors.js';
import { connect, type PgEndpoint } from './internal/connection.js';
import { PgChangeLog, type PgChangeLogNames } from './internal/change-log-stream.js';
import {
  CAPTURE_SCHEMA,
  fixReplicaIdentity,
  identityFixedLine,
  installDdlCapture,
  markInternal,
  removeDdlCapture,
} from './internal/ddl-capture.js';
import { createPublication } from './internal/publication.js';
import { bigIntToLsn, decodePosition, encodePosition, lsnToBigInt } from './internal/position.js';

export type { PgChangeLogNames } from './internal/change-log-stream.js';
export { PART_MAX_BYTES, PART_MAX_CHANGES } from './internal/transaction-assembly.js';

const IDENTIFIER_MAX = 63;
const ACTIVE_SLOT_WAIT_MS = 5_000;

/** `crmb_` + the name folded to [a-z0-9_]; a short hash keeps folded or cut names distinct. */
export function changeLogNames(sourceName: string): PgChangeLogNames {
  const folded = sourceName.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  let name = `crmb_${folded}`;
  if (folded !== sourceName || name.length > IDENTIFIER_MAX) {
    let h = 0x811c9dc5; // FNV-1a over the original name
    for (const ch of Buffer.from(sourceName, 'utf8')) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
    const suffix = `_${h.toString(16).padStart(8, '0')}`;
    name = name.slice(0, IDENTIFIER_MAX - suffix.length) + suffix;
  }
  return { slot: name, publication: name };
}

/**
 * Publication, REPLICA IDENTITY FULL where needed (first, so no UPDATE ever fails), DDL capture.
 * A published table without a usable replica identity makes every UPDATE/DELETE on it fail, so the
 * publication is not created while such a table cannot be fixed (a lock held by a long
 * transaction): that refuses with the table and the fix. An existing publication is kept (dropping
 * it would lose the slot's changes silently); its failures are returned and retried by the stream.
 * `changes` has one line per change made to the source (what and why), for the stream's log.
 */
export async function preparePgChangeLog(
  client: pg.Client,
  sourceName: string,
): Promise<{ ddlCapture: boolean; identityFailures: string[]; changes: string[] }> {
  const { publication } = changeLogNames(sourceName);
  await markInternal(client);
  // capture first: from then on a new keyless table gets its identity in its own transaction
  const capture = await installDdlCapture(client);
  const identity = await fixReplicaIdentity(client);
  const failures = identity.failed;
  const changes = [...capture.changes, ...identity.created, ...identity.fixed.map(identityFixedLine)];
  const exists = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (!exists.rowCount) {
    const first = failures[0];
    if (first) {
      throw new SourceError(
        `Table ${first.table}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''} has no primary key and could not be given REPLICA IDENTITY FULL (${first.reason}), so publication "${publication}" was not created, since the application's UPDATE and DELETE on it would fail: run ALTER TABLE ${first.table} REPLICA IDENTITY FULL (or add a primary key) once no transaction holds a lock on it, then start again.`,
      );
    }
    changes.push(await createPublication(client, publication));
  }
  return {
    ddlCapture: capture.installed,
    identityFailures: failures.map((f) => `${f.table}: ${f.reason}`),
    changes,
  };
}

interface SlotRow {
  plugin: string;
  database: string;
  confirmed: string | null;
  active_pid: number | null;
}

/** The slot's confirmed position, and whether it had to be created (a new slot starts at `lsn`). */
async function ensureSlot(
  client: pg.Client,
  target: PgEndpoint,
  slot: string,
): Promise<{ lsn: bigint; created: boolean }> {
  const deadline = Date.now() + ACTIVE_SLOT_WAIT_MS;
  for (;;) {
    const res = await client.query<SlotRow>(
      `SELECT plugin, database, confirmed_flush_lsn::text AS confirmed, active_pid FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const row = res.rows[0];
    if (!row) {
      const created = await client.query<{ lsn: string }>(
        `SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')`,
        [slot],
      );
      return { lsn: lsnToBigInt(created.rows[0]?.lsn ?? '0/0'), created: true };
    }
    if (row.plugin !== 'pgoutput' || row.database !== target.database) {
      throw new SourceError(
        `Replication slot "${slot}" on ${target.display} belongs to database "${row.database}" with plugin "${row.plugin}"; expected "${target.database}" with pgoutput.`,
        { source: target.display },
      );
    }
    // a stream that just died may hold the slot for a moment until its walsender notices
    if (row.active_pid === null) return { lsn: lsnToBigInt(row.confirmed ?? '0/0'), created: false };
    if (Date.now() > deadline) {
      throw new SourceError(
        `Replication slot "${slot}" is in use by another stream of this source (${await slotHolder(client, row.active_pid)}); stop that stream first, or give this one another --name.`,
        { source: target.display },
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Who holds a slot, in words: the client of the walsender (application, address, since when),
 * and the walsender's PID, which is a PostgreSQL server process, not crm-backup's.
 */
async function slotHolder(client: pg.Client, pid: number): Promise<string> {
  const r = await client
    .query<{ app: string | null; addr: string | null; since: string | null }>(
      `SELECT nullif(application_name, '') AS app, host(client_addr) AS addr,
              to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since
         FROM pg_stat_replication WHERE pid = $1`,
      [pid],
    )
    .catch(() => undefined);
  const row = r?.rows[0];
  const who = row
    ? `${row.app ?? 'a client'} connected ${row.addr ? `from ${row.addr}` : 'through the unix socket'}${row.since ? ` since ${row.since}` : ''}, `
    : '';
  return `${who}served by PostgreSQL server process ${pid}`;
}

function setupError(err: unknown, target: PgEndpoint): SourceError {
  if (err instanceof SourceError) return err;
  const msg = ((err as Error).message ?? String(err)).split('\n')[0]?.replace(/\.$/, '');
  return new SourceError(`Cannot prepare logical replication on ${target.display}: ${msg}.`, {
    cause: err,
    source: target.display,
  });
}

/** Opens (creating on first use) the change log of `sourceName`; iteration connects. */
export async function openPgChangeLog(
  target: PgEndpoint,
  sourceName: string,
  from: Position | undefined,
  opts: StreamOptions,
  tuning: { receiveTimeoutMs?: number; adminDeadlineMs?: number } = {},
): Promise<ChangeLog> {
  const names = changeLogNames(sourceName);
  const admin = await connect(target);
  try {
    const prep = await preparePgChangeLog(admin, sourceName);
    // every change to the source, one line each: what, and why
    for (const line of prep.changes) opts.onStatus?.({ message: line });
    for (const f of prep.identityFailures)
      opts.onStatus?.({ message: `Could not set REPLICA IDENTITY FULL on ${f}` });
    if (!prep.ddlCapture) {
      const role = (await admin.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u ?? '';
      opts.onStatus?.({ message: ddlCaptureOffLine(role) });
    }
    const slot = await ensureSlot(admin, target, names.slot);
    if (slot.created)
      opts.onStatus?.({
        message: `Created replication slot ${names.slot} on the source: it keeps the WAL the stream has not stored yet, also while the stream is stopped; "stream --drop" removes it.`,
      });
    const requested = from === undefined ? 0n : decodePosition(from);
    if (slot.created && from !== undefined) {
      // The repository holds a log up to `from` but the slot is gone (dropped, or a failover to a
      // server without it): the new slot starts at its own position, never at `from`.
      if (slot.lsn < requested) {
        await admin.query(`SELECT pg_drop_replication_slot($1)`, [names.slot]).catch(() => {});
        throw new SourceError(
          `Replication slot "${names.slot}" was missing on ${target.display} and the server's WAL (${bigIntToLsn(slot.lsn)}) is behind what the repository holds (${bigIntToLsn(requested)}), so this is a different server or WAL history (point --source at the server this repository streamed from, or stream this one under a new --name after a new snapshot).`,
          { source: target.display },
        );
      }
      if (slot.lsn > requested) {
        opts.onStatus?.({
          message: `Replication slot "${names.slot}" was missing on ${target.display} and was created again at position ${encodePosition(slot.lsn)}, so changes between position ${from} and ${encodePosition(slot.lsn)} are not in the log; take a new snapshot.`,
        });
      }
    }
    // a recreated slot is never behind `from` here, so this is the slot's own position then
    const start = requested > slot.lsn ? requested : slot.lsn;
    return new PgChangeLog({ target, names, admin, opts, start, ddlCapture: prep.ddlCapture, ...tuning });
  } catch (err) {
    await admin.end().catch(() => {});
    throw setupError(err, target);
  }
}

/**
 * Drops the slot and the publication, and, when no other stream of this database is left, DDL
 * capture, schema crmb and the replica identities the stream set (put back as they were). Returns
 * one line per change, for the user.
 */
export async function dropPgChangeLog(target: PgEndpoint, sourceName: string): Promise<string[]> {
  const { slot, publication } = changeLogNames(sourceName);
  const admin = await connect(target);
  const lines: string[] = [];
  try {
    const res = await admin.query<{ active_pid: number | null }>(
      `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const pid = res.rows[0]?.active_pid;
    if (pid) {
      throw new SourceError(
        `Replication slot "${slot}" is in use by a running stream (${await slotHolder(admin, pid)}); stop that stream before dropping its change log.`,
        { source: target.display },
      );
    }
    if (res.rowCount) {
      await admin.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
      lines.push(`Dropped replication slot ${slot}.`);
    }
    await markInternal(admin);
    const pub = await admin.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
    if (pub.rowCount) {
      await admin.query(`DROP PUBLICATION ${publication}`);
      lines.push(`Dropped publication ${publication}.`);
    }
    // snapshots' temporary slots come and go; another source's stream keeps what it shares
    const others = await admin.query<{ slot_name: string }>(
      `SELECT slot_name FROM pg_replication_slots
        WHERE database = current_database() AND slot_name LIKE 'crmb\\_%' AND NOT temporary ORDER BY 1`,
    );
    if (others.rowCount) {
      lines.push(
        `Kept DDL capture, schema ${CAPTURE_SCHEMA} and the replica identities the stream set: the stream(s) of slot ${others.rows.map((r) => r.slot_name).join(', ')} still use them.`,
      );
      return lines;
    }
    try {
      lines.push(...(await removeDdlCapture(admin)));
    } catch (err) {
      const done = lines.length ? `${lines.map((l) => l.replace(/\.$/, '')).join('; ')}; but ` : '';
      throw new SourceError(
        `${done}could not put back the replica identities the stream set, nor remove DDL capture and schema ${CAPTURE_SCHEMA}: ${((err as Error).message ?? String(err)).split('\n')[0]}; fix that and run "stream --drop" again.`,
        { cause: err, source: target.display },
      );
    }
    return lines;
  } catch (err) {
    throw setupError(err, target);
  } finally {
    await admin.end().catch(() => {});
  }
}

/** The warning of a stream without DDL capture. */
export function ddlCaptureOffLine(role: string): string {
  return `DDL capture is off: role ${role} is not a superuser, so no event trigger can be installed, and schema changes made while streaming are not in the log (a restore to a time after one fails or refuses); take a snapshot after each schema change.`;
}
