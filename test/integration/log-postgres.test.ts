/**
 * Find the bad transaction and restore to just before it, as a DBA does, with the real CLI on a
 * real PostgreSQL: `log --from … --to … --tables contacts`, `log --show REF`,
 * `restore --before REF` / `--through REF`.
 *
 * The bad `UPDATE contacts SET owner_id = NULL WHERE city = 'Lyon'` commits in the same
 * millisecond as good transactions on other tables and other rows: five sessions do their work,
 * then wait on one advisory lock before their implicit commit, and commit together when it is
 * released. No commit time separates them; their positions do.
 *
 * The expected states are computed, not assumed: a reference database restored to the instant
 * before the round (nothing writes then) replays the round's good transactions that precede the
 * bad one in the log's commit order, then the bad one.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { listTransactions, openSourceLog, type TransactionEntry } from '../../src/restore/log.js';
import { formatMicros } from '../../src/util/time.js';
import { createPgDatabase, pgQuery, type TestDatabase } from '../harness/index.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import {
  serverNowMicros,
  startStream,
  takeSnapshot,
  tempRepo,
  TEST_PASSWORD,
  type RunningStream,
  type TempRepo,
} from '../helpers/pitr.js';

const NAME = 'crm_log';
const OTHER = 'crm_log_other';
const CITIES = ['Lyon', 'Paris', 'Berlin', 'Madrid', 'Lisbon'];
const BAD = `UPDATE contacts SET owner_id = NULL WHERE city = 'Lyon'`;
const GATE = 4242;
/** Rounds tried until a good transaction commits in the bad one's millisecond (the first, nearly always). */
const MAX_ROUNDS = 8;

const SCHEMA = `
CREATE TABLE users (id integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE contacts (
  id integer PRIMARY KEY, owner_id integer REFERENCES users (id), city text NOT NULL,
  email text NOT NULL, score integer NOT NULL DEFAULT 0
);
CREATE TABLE deals (id integer PRIMARY KEY, contact_id integer REFERENCES contacts (id), amount numeric(12,2) NOT NULL, stage text NOT NULL);
CREATE TABLE activities (id bigint PRIMARY KEY, contact_id integer, kind text NOT NULL, body text);
CREATE SEQUENCE activity_ids START 1000000;
INSERT INTO users SELECT g, 'User ' || g FROM generate_series(1, 20) g;
INSERT INTO contacts SELECT g, 1 + g % 20, (ARRAY[${CITIES.map((c) => `'${c}'`).join(',')}])[1 + g % 5], 'c' || g || '@example.com'
  FROM generate_series(1, 600) g;
INSERT INTO deals SELECT g, g, g * 10.5, 'lead' FROM generate_series(1, 300) g;
INSERT INTO activities SELECT g, 1 + g % 600, 'call', 'seeded ' || g FROM generate_series(1, 2000) g;
`;

/** The good transactions of round `r`: other tables, and other rows of contacts. Deterministic. */
function goods(r: number): string[] {
  return [
    `UPDATE deals SET stage = 'won', amount = amount + 100 WHERE id BETWEEN ${1 + r * 40} AND ${40 + r * 40}`,
    `INSERT INTO activities SELECT ${2_000_000 + r * 100} + g, g, 'meeting', 'round ${r}' FROM generate_series(1, 30) g`,
    `UPDATE contacts SET email = 'paris' || id || '.r${r}@example.com' WHERE city = 'Paris' AND id % 3 = ${r % 3}`,
    `DELETE FROM activities WHERE id BETWEEN ${1 + r * 50} AND ${20 + r * 50}`,
  ];
}

/** Small transactions on `connections` sessions until `stop` fires: the CRM at work. */
async function backgroundWorkload(url: string, connections: number, stop: AbortSignal): Promise<number> {
  let committed = 0;
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        for (let i = 0; !stop.aborted; i++) {
          const id = 1 + ((c * 7919 + i * 104729) % 300);
          await client.query('BEGIN');
          await client.query(`UPDATE deals SET amount = amount + 1 WHERE id = $1`, [id]);
          await client.query(
            `INSERT INTO activities VALUES (nextval('activity_ids'), $1, 'email', 'background')`,
            [id],
          );
          await client.query(`UPDATE contacts SET score = score + 1 WHERE id = $1 AND city <> 'Lyon'`, [id]);
          await client.query('COMMIT');
          committed++;
        }
      } finally {
        await client.end();
      }
    }),
  );
  return committed;
}

/** Runs `fn` while a workload on three connections commits at least `n` transactions. */
async function underLoad(url: string, n: number): Promise<void> {
  const stop = new AbortController();
  const counter = { done: 0 };
  const running = backgroundWorkload(url, 3, stop.signal).then((c) => (counter.done = c));
  // wait for the event (transactions committed), never a fixed time
  for (;;) {
    const r = await pgQuery(url, `SELECT count(*)::int AS n FROM activities WHERE body = 'background'`);
    if ((r.rows[0] as { n: number }).n >= n) break;
    await new Promise((res) => setTimeout(res, 50));
  }
  stop.abort();
  await running;
}

interface Round {
  readonly round: number;
  /** Server clock read while nothing wrote, just before the round. */
  readonly before: bigint;
  readonly after: bigint;
  readonly badXid: number;
  /** xid of each good transaction, same order as goods(round). */
  readonly goodXids: number[];
}

/** Five sessions hold their transactions open at one advisory lock; releasing it commits them together. */
async function gatedRound(url: string, r: number): Promise<Round> {
  // every round starts from owners assigned, so the bad UPDATE always removes them
  await pgQuery(url, `UPDATE contacts SET owner_id = 1 + id % 20 WHERE city = 'Lyon'`);
  const before = await serverNowMicros(url);
  const blocker = new pg.Client({ connectionString: url });
  await blocker.connect();
  const sessions: pg.Client[] = [];
  try {
    await blocker.query(`SELECT pg_advisory_lock(${GATE})`);
    const statements = [BAD, ...goods(r)];
    for (let i = 0; i < statements.length; i++) {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      sessions.push(c);
    }
    // One simple-protocol query string is one implicit transaction, committed by the server as
    // soon as its last statement ends: each does its work, then waits at the gate, so releasing
    // the gate leaves the five of them nothing to do but commit.
    const running = statements.map((sql, i) =>
      sessions[i]!.query(
        `${sql}; SELECT txid_current()::text AS xid; SELECT pg_advisory_xact_lock_shared(${GATE})`,
      ),
    );
    for (;;) {
      const w = await blocker.query(
        `SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = ${GATE} AND NOT granted`,
      );
      if ((w.rows[0] as { n: number }).n === statements.length) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    await blocker.query(`SELECT pg_advisory_unlock(${GATE})`);
    const results = (await Promise.all(running)) as unknown as pg.QueryResult[][];
    const xids = results.map((res) => Number((res[1]!.rows[0] as { xid: string }).xid));
    return { round: r, before, after: await serverNowMicros(url), badXid: xids[0]!, goodXids: xids.slice(1) };
  } finally {
    for (const c of sessions) await c.end().catch(() => {});
    await blocker.end().catch(() => {});
  }
}

const xidOf = (ref: string): number => Number(ref.split('@')[0]);
const millisecond = (micros: bigint): bigint => micros / 1000n;

describe('crm-backup log and restore --before/--through on PostgreSQL', () => {
  let tr: TempRepo;
  let source: TestDatabase;
  let other: TestDatabase;
  const dbs: TestDatabase[] = [];
  let stream: RunningStream | undefined;
  let round: Round;
  let bad: TransactionEntry;
  let roundEntries: TransactionEntry[];
  /** A transaction after the stream started, before the snapshot. */
  let preSnapshotXid: number;
  const env = (): Record<string, string> => ({ CRM_BACKUP_REPO: tr.dir, CRM_BACKUP_PASSWORD: TEST_PASSWORD });
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { env: env() });
  const target = async (): Promise<TestDatabase> => {
    const d = await createPgDatabase('log_dst');
    dbs.push(d);
    return d;
  };

  beforeAll(async () => {
    tr = await tempRepo();
    source = await createPgDatabase('log_src');
    other = await createPgDatabase('log_other');
    await pgQuery(source.url, SCHEMA);
    stream = startStream(tr.repo, driver, source.url, NAME);
    await stream.started;
    const pre = await pgQuery(
      source.url,
      `UPDATE users SET name = name || '.' WHERE id = 1 RETURNING txid_current()::text AS xid`,
    );
    preSnapshotXid = Number((pre.rows[0] as { xid: string }).xid);
    await takeSnapshot(tr.repo, driver, source.url, NAME);
    await underLoad(source.url, 150);

    // The round, again only if no good transaction shared the bad one's millisecond.
    for (let r = 0; ; r++) {
      round = await gatedRound(source.url, r);
      await stream.waitCovered(round.after, 60_000);
      const log = await openSourceLog(tr.repo, NAME);
      roundEntries = [];
      for await (const e of listTransactions(tr.repo, log, {
        fromMicros: round.before,
        toMicros: round.after,
      }))
        roundEntries.push(e);
      bad = roundEntries.find((e) => xidOf(e.ref) === round.badXid)!;
      expect(bad, 'the bad transaction is in the stored log').toBeDefined();
      const shared = roundEntries.filter(
        (e) =>
          round.goodXids.includes(xidOf(e.ref)) &&
          millisecond(e.commitMicros) === millisecond(bad.commitMicros),
      );
      if (shared.length > 0 || r + 1 >= MAX_ROUNDS) break;
    }
    await underLoad(source.url, 300); // the log goes on after the round
    const end = await serverNowMicros(source.url);
    await stream.waitCovered(end, 60_000);
    await stream.stop();
    stream = undefined;

    // a second source in the same repository, for a reference of another source
    await pgQuery(other.url, `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)`);
    const second = startStream(tr.repo, driver, other.url, OTHER);
    await second.started;
    await pgQuery(other.url, `INSERT INTO t VALUES (2)`);
    await second.waitCovered(await serverNowMicros(other.url), 60_000);
    await second.stop();
  });

  afterAll(async () => {
    await stream?.stop().catch(() => {});
    for (const d of dbs) await d.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await other?.drop().catch(() => {});
    await tr?.dispose();
  });

  it('commits the bad UPDATE in the same millisecond as a good transaction', () => {
    const goods = roundEntries.filter((e) => round.goodXids.includes(xidOf(e.ref)));
    expect(goods.map((e) => xidOf(e.ref)).sort()).toEqual([...round.goodXids].sort());
    expect(goods.some((e) => millisecond(e.commitMicros) === millisecond(bad.commitMicros))).toBe(true);
  });

  it('log --from … --to … --tables contacts lists the bad transaction with its counts; --show shows its rows', async () => {
    const lyon = 600 / CITIES.length;
    const window = ['--name', NAME, '--from', formatMicros(round.before), '--to', formatMicros(round.after)];
    const listed = await cli(['log', ...window, '--tables', 'contacts']);
    expect(listed.code, listed.stderr).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines).toContain(
      `${bad.ref}  ${formatMicros(bad.commitMicros)}  public.contacts: ${lyon} updates`,
    );
    // the good transaction on other rows of contacts is listed; those on other tables are not
    const paris = roundEntries.find((e) => xidOf(e.ref) === round.goodXids[2])!;
    expect(lines).toContain(`${paris.ref}  ${paris.commitTime}  public.contacts: 40 updates`);
    expect(lines).toHaveLength(2);

    const json = await cli([
      'log',
      ...window,
      '--tables',
      'contacts',
      '--min-changes',
      String(lyon),
      '--json',
    ]);
    expect(json.code, json.stderr).toBe(0);
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      {
        ref: bad.ref,
        position: bad.position,
        commitTime: formatMicros(bad.commitMicros),
        commitMicros: bad.commitMicros.toString(),
        changes: lyon,
        tables: [{ table: 'public.contacts', inserts: 0, updates: lyon, deletes: 0, truncates: 0 }],
        statements: [],
        parts: 1,
      },
    ]);

    const shown = await cli(['log', '--name', NAME, '--show', bad.ref, '--limit', '1000']);
    expect(shown.code, shown.stderr).toBe(0);
    const out = shown.stdout.trim().split('\n');
    expect(out[0]).toBe(
      `Transaction ${bad.ref}, committed ${formatMicros(bad.commitMicros)}: public.contacts: ${lyon} updates`,
    );
    const ids = (
      await pgQuery(source.url, `SELECT id FROM contacts WHERE city = 'Lyon' ORDER BY id`)
    ).rows.map((r: { id: number }) => r.id);
    for (const id of ids)
      expect(out).toContain(
        `UPDATE public.contacts id=${id}: owner_id = NULL, city = 'Lyon', email = 'c${id}@example.com', score = '0'`,
      );
    expect(out).toContain(
      'The log holds only the key of the old row of public.contacts (REPLICA IDENTITY DEFAULT); ALTER TABLE public.contacts REPLICA IDENTITY FULL makes it keep old values from then on.',
    );
    const limited = await cli(['log', '--name', NAME, '--show', bad.ref, '--limit', '5', '--json']);
    const doc = JSON.parse(limited.stdout) as {
      rows: Array<{ key: { id: string }; columns: unknown[] }>;
      total: number;
    };
    expect(doc.total).toBe(lyon);
    expect(doc.rows).toHaveLength(5);
    expect(doc.rows[0]!.columns).toContainEqual({ name: 'owner_id', new: null });
  });

  it('restore --before REF equals the source just before it, --through REF just after it', async () => {
    // the reference: the source at the instant before the round, then the round's good
    // transactions that precede the bad one in the log's commit order, then the bad one
    const ref = await target();
    const atBefore = await cli([
      'restore',
      '--name',
      NAME,
      '--target',
      ref.url,
      '--at',
      formatMicros(round.before),
    ]);
    expect(atBefore.code, atBefore.stderr).toBe(0);
    const byXid = new Map(roundEntries.map((e) => [xidOf(e.ref), e]));
    const statements = goods(round.round);
    const earlier = round.goodXids.flatMap((xid, i) =>
      driver.comparePositions(byXid.get(xid)!.position, bad.position) < 0 ? [statements[i]!] : [],
    );
    for (const sql of earlier) await pgQuery(ref.url, sql);
    const expectedBefore = await pgTableChecksums(ref.url);
    await pgQuery(ref.url, BAD);
    const expectedThrough = await pgTableChecksums(ref.url);
    expect(expectedThrough.contacts).not.toEqual(expectedBefore.contacts);

    const before = await target();
    const r1 = await cli(['restore', '--name', NAME, '--target', before.url, '--before', bad.ref]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stderr).toContain(
      `up to just before transaction ${bad.ref} (committed ${formatMicros(bad.commitMicros)})`,
    );
    expect(await pgTableChecksums(before.url)).toEqual(expectedBefore);
    const orphaned = await pgQuery(
      before.url,
      `SELECT count(*)::int AS n FROM contacts WHERE owner_id IS NULL AND city = 'Lyon'`,
    );
    expect((orphaned.rows[0] as { n: number }).n).toBe(0);

    const through = await target();
    const r2 = await cli(['restore', '--name', NAME, '--target', through.url, '--through', bad.ref]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toContain(`up to and including transaction ${bad.ref} (committed ${bad.commitTime})`);
    expect(await pgTableChecksums(through.url)).toEqual(expectedThrough);
  });

  it('list names the transactions a restore by reference can reach', async () => {
    const listed = await cli(['list', '--name', NAME, '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const [src] = JSON.parse(listed.stdout) as Array<{
      restorable: Array<{
        first?: { ref: string; commitTime: string };
        last?: { ref: string; commitTime: string };
      }>;
    }>;
    const window = src!.restorable[0]!;
    expect(window.first?.ref).toMatch(/^\d+@[0-9A-F]+\/[0-9A-F]+$/);
    expect(window.last?.ref).toMatch(/^\d+@[0-9A-F]+\/[0-9A-F]+$/);
    const human = await cli(['list', '--name', NAME]);
    expect(human.stdout).toContain(
      `restorable to any transaction from before ${window.first!.ref} (${window.first!.commitTime}) through ${window.last!.ref} (${window.last!.commitTime})`,
    );
  });

  it('refuses an unknown reference, one of another source and one before the oldest snapshot, one sentence each', async () => {
    const dst = await target();
    const unknown = await cli(['restore', '--name', NAME, '--target', dst.url, '--before', '1@0/10']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim()).toBe(
      `crm-backup: Transaction 1@0/10 is not in the stored log of ${NAME}; "crm-backup log" lists the transactions it holds.`,
    );
    const malformed = await cli(['restore', '--name', NAME, '--target', dst.url, '--through', 'yesterday']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr.trim()).toBe(
      'crm-backup: "yesterday" is not a PostgreSQL transaction reference; copy one from "crm-backup log", like 745@0/16B3748 (xid@commit LSN).',
    );

    const theirs = await cli(['log', '--name', OTHER, '--json']);
    const otherRef = (JSON.parse(theirs.stdout.trim().split('\n').at(-1)!) as { ref: string }).ref;
    const foreign = await cli(['restore', '--name', NAME, '--target', dst.url, '--before', otherRef]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr.trim()).toBe(
      `crm-backup: Transaction ${otherRef} is in the stored log of source ${OTHER}, not of ${NAME}; pass --name ${OTHER}.`,
    );
    const shown = await cli(['log', '--name', NAME, '--show', otherRef]);
    expect(shown.code).toBe(2);
    expect(shown.stderr.trim()).toBe(foreign.stderr.trim());

    const all = await cli(['log', '--name', NAME, '--json']);
    const early = all.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { ref: string; commitTime: string })
      .find((e) => xidOf(e.ref) === preSnapshotXid)!;
    expect(early, 'the transaction committed before the snapshot is in the stored log').toBeDefined();
    const [snap] = (
      JSON.parse((await cli(['list', '--name', NAME, '--json'])).stdout) as Array<{
        snapshots: Array<{ id: string; consistentAt: string }>;
      }>
    )[0]!.snapshots;
    const old = await cli(['restore', '--name', NAME, '--target', dst.url, '--before', early.ref]);
    expect(old.code).toBe(1);
    expect(old.stderr.trim()).toBe(
      `crm-backup: Transaction ${early.ref} (committed ${early.commitTime}) is already in the oldest snapshot of ${NAME} (${snap!.id.slice(0, 12)}, consistent at ${snap!.consistentAt}), so the state just before it cannot be restored.`,
    );
  });
});
