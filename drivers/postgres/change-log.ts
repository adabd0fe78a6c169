/**
 * PostgreSQL change log: logical decoding (pgoutput) through a permanent slot `crmb_<name>` and a
 * publication `crmb_<name>` FOR ALL TABLES (publish_via_partition_root off: with it, TRUNCATE of a
 * single partition is not published at all; changes arrive under the leaf partitions' names).
 *
 * Contract for source.ts:
 *   openPgChangeLog(target, sourceName, from, opts) -> ChangeLog   (SourceDriver.openChangeLog)
 *   dropPgChangeLog(target, sourceName)                            (SourceDriver.dropChangeLog)
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
import { fixReplicaIdentity, installDdlCapture, markInternal, removeDdlCapture } from './internal/ddl-capture.js';
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
 * A FOR ALL TABLES publication makes every UPDATE/DELETE on a table without a usable replica
 * identity fail, so it is not created while such a table cannot be fixed (a lock held by a long
 * transaction): that refuses with the table and the fix. An existing publication is kept (dropping
 * it would lose the slot's changes silently); its failures are returned and retried by the stream.
 */
export async function preparePgChangeLog(
  client: pg.Client,
  sourceName: string,
): Promise<{ ddlCapture: boolean; identityFailures: string[] }> {
  const { publication } = changeLogNames(sourceName);
  await markInternal(client);
  // capture first: from then on a new keyless table gets its identity in its own transaction
  const ddlCapture = await installDdlCapture(client);
  const failures = await fixReplicaIdentity(client);
  const exists = await client.query(`SELECT 1 FROM pg_publication WHERE pubname = $1`, [publication]);
  if (!exists.rowCount) {
    const first = failures[0];
    if (first) {
      throw new SourceError(
        `Table ${first.table}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ''} has no primary key and could not be given REPLICA IDENTITY FULL (${first.reason}), so publication "${publication}" was not created, since the application's UPDATE and DELETE on it would fail: run ALTER TABLE ${first.table} REPLICA IDENTITY FULL (or add a primary key) once no transaction holds a lock on it, then start again.`,
      );
    }
    await client.query(`CREATE PUBLICATION ${publication} FOR ALL TABLES`);
  }
  return { ddlCapture, identityFailures: failures.map((f) => `${f.table}: ${f.reason}`) };
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
        `Replication slot "${slot}" is active for PID ${row.active_pid}; another stream for this source is running.`,
        { source: target.display },
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
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
    for (const f of prep.identityFailures)
      opts.onStatus?.({ message: `Could not set REPLICA IDENTITY FULL on ${f}` });
    if (!prep.ddlCapture) {
      opts.onStatus?.({
        message: `DDL capture is off (needs superuser): schema changes made while streaming are not in the log.`,
      });
    }
    const slot = await ensureSlot(admin, target, names.slot);
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

/** Drops the slot and the publication (and the DDL capture when no other stream uses it). */
export async function dropPgChangeLog(target: PgEndpoint, sourceName: string): Promise<void> {
  const { slot, publication } = changeLogNames(sourceName);
  const admin = await connect(target);
  try {
    const res = await admin.query<{ active_pid: number | null }>(
      `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const pid = res.rows[0]?.active_pid;
    if (pid) {
      throw new SourceError(
        `Replication slot "${slot}" is active for PID ${pid}; stop the stream for this source before dropping its change log.`,
        { source: target.display },
      );
    }
    if (res.rowCount) await admin.query(`SELECT pg_drop_replication_slot($1)`, [slot]);
    await markInternal(admin);
    await admin.query(`DROP PUBLICATION IF EXISTS ${publication}`);
    const others = await admin.query(
      `SELECT 1 FROM pg_replication_slots WHERE database = current_database() AND slot_name LIKE 'crmb\\_%'`,
    );
    if (!others.rowCount) await removeDdlCapture(admin).catch(() => {});
  } catch (err) {
    throw setupError(err, target);
  } finally {
    await admin.end().catch(() => {});
  }
}
