/**
 * Helpers for the PostgreSQL stream tests: a source and a target database with the same schema,
 * a pump that applies the change log to the target as it arrives (acknowledging as it goes), and
 * per-table checksums over every user schema.
 */
import pg from 'pg';
import { applyTransaction } from '../../drivers/postgres/apply.js';
import { openPgChangeLog } from '../../drivers/postgres/change-log.js';
import { parsePgUrl } from '../../drivers/postgres/internal/connection.js';
import { comparePositions, positionFromLsn } from '../../drivers/postgres/internal/position.js';
import type {
  ChangeLog,
  ChangeLogStatus,
  Position,
  StreamOptions,
  Transaction,
} from '../../src/driver/source-driver.js';
import { isHeartbeat } from '../../src/driver/source-driver.js';
import { createPgDatabase, pgQuery, type TestDatabase } from '../harness/index.js';

export const query = pgQuery;

export interface Pair {
  readonly source: TestDatabase;
  readonly target: TestDatabase;
  drop(): Promise<void>;
}

/** Two fresh databases on the server at `serverUrl` (default: the shared one), both given `schemaSql`. */
export async function createPair(prefix: string, schemaSql: string, serverUrl?: string): Promise<Pair> {
  const source = await createPgDatabase(`${prefix}_src`, serverUrl);
  const target = await createPgDatabase(`${prefix}_dst`, serverUrl);
  if (schemaSql) {
    await query(source.url, schemaSql);
    await query(target.url, schemaSql);
  }
  return { source, target, drop: async () => void (await Promise.all([source.drop(), target.drop()])) };
}

/** Slots are per server: the default stream name is the (unique) source database name. */
export function streamName(url: string): string {
  return new URL(url).pathname.slice(1);
}

/** WAL insert position of the source (not the write position: the harness runs synchronous_commit=off); once a heartbeat reaches it, everything committed before is in. */
export async function currentPosition(url: string): Promise<Position> {
  const r = await query(url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
  return positionFromLsn(r.rows[0].lsn as string);
}

export interface Pump {
  readonly log: ChangeLog;
  readonly transactions: Transaction[];
  readonly statuses: ChangeLogStatus[];
  /** Resolves once a heartbeat or transaction at or after `position` was applied. */
  reach(position: Position, timeoutMs?: number): Promise<void>;
  /** Ends iteration (abort) and waits for the pump; rethrows its error. */
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/** Streams `sourceUrl` into `targetUrl`, acknowledging each applied transaction and heartbeat. */
export async function startPump(
  sourceUrl: string,
  targetUrl: string | undefined,
  opts: {
    onTransaction?: (tx: Transaction) => void;
    name?: string;
    from?: Position;
    ack?: boolean;
    keep?: boolean;
    stream?: Partial<StreamOptions>;
    applyOpts?: Parameters<typeof applyTransaction>[2];
  } = {},
): Promise<Pump> {
  const abort = new AbortController();
  const statuses: ChangeLogStatus[] = [];
  const log = await openPgChangeLog(parsePgUrl(sourceUrl), opts.name ?? streamName(sourceUrl), opts.from, {
    signal: abort.signal,
    heartbeatMs: 200,
    onStatus: (s) => statuses.push(s),
    ...opts.stream,
  });
  const target = targetUrl ? new pg.Client({ connectionString: targetUrl }) : undefined;
  await target?.connect();
  const transactions: Transaction[] = [];
  const onTransaction = opts.onTransaction;
  let reached: Position = log.from;
  const waiters: Array<{ position: Position; resolve: () => void }> = [];
  const advance = (p: Position): void => {
    if (comparePositions(p, reached) > 0) reached = p;
    for (const w of waiters.splice(0)) {
      if (comparePositions(reached, w.position) >= 0) w.resolve();
      else waiters.push(w);
    }
  };
  const done = (async () => {
    try {
      for await (const item of log) {
        if (isHeartbeat(item)) {
          if (opts.ack !== false) await log.acknowledge(item.position);
          advance(item.position);
          continue;
        }
        if (opts.keep !== false) transactions.push(item);
        onTransaction?.(item);
        if (target) await applyTransaction(target, item, opts.applyOpts);
        if (!item.more) {
          if (opts.ack !== false) await log.acknowledge(item.position);
          advance(item.position);
        }
      }
    } finally {
      await target?.end();
    }
  })();
  done.catch(() => {});
  return {
    log,
    transactions,
    statuses,
    done,
    reach: (position, timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (comparePositions(reached, position) >= 0) return resolve();
        const t = setTimeout(
          () => reject(new Error(`stream did not reach ${position} (at ${reached})`)),
          timeoutMs,
        );
        waiters.push({ position, resolve: () => (clearTimeout(t), resolve()) });
        done.then(
          () => reject(new Error(`stream ended before ${position}`)),
          (err: unknown) => reject(err as Error),
        );
      }),
    stop: async () => {
      abort.abort();
      await done;
    },
  };
}

/** md5 over the sorted row texts of every table outside the system schemas and `crmb`. */
export async function checksums(url: string): Promise<Record<string, string>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET extra_float_digits = 3`);
    const tables = await c.query<{ s: string; t: string }>(
      `SELECT schemaname AS s, tablename AS t FROM pg_tables
        WHERE schemaname NOT IN ('pg_catalog', 'information_schema', 'crmb') ORDER BY 1, 2`,
    );
    const out: Record<string, string> = {};
    for (const { s, t } of tables.rows) {
      const rel = `${pg.escapeIdentifier(s)}.${pg.escapeIdentifier(t)}`;
      const r = await c.query<{ n: string; md5: string }>(
        `SELECT count(*) AS n, md5(coalesce(string_agg(h, '' ORDER BY h COLLATE "C"), '')) AS md5
           FROM (SELECT md5(x::text) AS h FROM ONLY ${rel} x) y`,
      );
      out[`${s}.${t}`] = `${r.rows[0]?.n}:${r.rows[0]?.md5}`;
    }
    return out;
  } finally {
    await c.end();
  }
}
