/**
 * One replication session of the change log, as the driver helpers' reconnect loop sees it
 * (src/driver/reconnect.ts): the items it delivers, which of its ends are worth a reconnect, and
 * the sentence for those that are not. While idle it asks the server for a keepalive every half
 * heartbeat; the keepalive carries the server's position, which becomes a Heartbeat.
 */
import { firstLine } from '../../../src/driver/reconnect.js';
import type { ChangeLogItem } from '../../../src/driver/source-driver.js';
import { SourceError } from '../../../src/util/errors.js';
import type { PgEndpoint } from './connection.js';
import { ReplicationDecodeError, type ReplicationSession } from './replication.js';
import type { TransactionAssembler } from './transaction-assembly.js';

/**
 * Errors worth a reconnect: the connection went away or the server is (re)starting. Decided by
 * where an error came from and its code, never by its text:
 * - SQLSTATE 08 connection exception, 57 operator intervention (shutdown, starting up),
 *   53 resources, 55006 slot still held by the previous walsender, and socket errno codes (E...):
 *   retry; any other code (a missing slot or publication, a rejected login): fatal.
 * - Without a code: what the server sent could not be decoded (ReplicationDecodeError), or a
 *   SourceError of ours about the stream's content: fatal, since the same bytes come again;
 *   everything else arrived through the connection ("Connection terminated unexpectedly", a
 *   closed socket, a failed connect): retry.
 */
export function retryable(err: unknown): boolean {
  if (err === undefined) return true;
  if (err instanceof ReplicationDecodeError) return false;
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = typeof e.code === 'string' && e.code !== 'SOURCE' ? e.code : e.cause?.code;
  if (typeof code !== 'string') return !(err instanceof SourceError && err.cause === undefined);
  return /^(08|57|53)/.test(code) || code === '55006' || /^E[A-Z]+$/.test(code);
}

/** The error a stream ends with when reconnecting would not help. */
export function streamError(err: unknown, target: PgEndpoint, slot: string): SourceError {
  if (err instanceof SourceError) return err;
  return new SourceError(
    `PostgreSQL at ${target.display} stopped the replication stream of slot "${slot}": ${firstLine(err)}.`,
    { cause: err, source: target.display },
  );
}

/**
 * What one session delivers, until it ends (then it throws the reason) or `stopped()` holds (then
 * it returns). `received()` on everything the server sends, keepalives included.
 */
export async function* readSession(
  session: ReplicationSession,
  assembler: TransactionAssembler,
  o: { readonly pollMs: number; readonly stopped: () => boolean; readonly received: () => void },
): AsyncGenerator<ChangeLogItem> {
  try {
    for (;;) {
      const ev = await session.next(o.pollMs);
      if (o.stopped()) return;
      if (!ev) {
        session.sendStatus(true); // the server answers with a keepalive carrying its position
        continue;
      }
      if (ev.kind === 'end') throw ev.error ?? new Error('the server ended replication');
      o.received();
      if (ev.kind === 'keepalive') {
        const heartbeat = assembler.keepalive(ev.walEnd, ev.serverTime);
        if (heartbeat) yield heartbeat;
        continue;
      }
      yield* assembler.message(ev.message, ev.serverTime);
    }
  } finally {
    await assembler.abandon();
  }
}
