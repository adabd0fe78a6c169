/**
 * Replay must change exactly what the source changed: inheritance parents (TRUNCATE ONLY, and
 * UPDATE/DELETE of a parent's own rows, by key and by REPLICA IDENTITY FULL), end to end through
 * stream → snapshot → restore --at → checksums of every table's own rows. And a restored database
 * must go on safely: every sequence hands out values no restored row holds, also when no column
 * owns it or it counts down.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyTransaction } from '../../drivers/postgres/apply.js';
import { driver } from '../../drivers/postgres/index.js';
import { SEQUENCES_MESSAGE_PREFIX } from '../../drivers/postgres/internal/ddl-capture.js';
import { decodePayload } from '../../drivers/postgres/internal/payload.js';
import { pgTableChecksums, type TableChecksum } from '../../scripts/crm/checksums.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import type { Repository } from '../../src/repository/repository-api.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { waitFor } from '../harness/util.js';
import { pgExec, pitrFixture, restoreInto, serverNowMicros, startStream, takeSnapshot } from '../helpers/pitr.js';
import { changePayload, INT4, relation, TEXT } from '../helpers/pg-payload.js';

/** The highest value of `sequence` in the sequence records the stored log of `source` holds (0: none). */
async function recordedSequenceValue(repo: Repository, source: string, sequence: string): Promise<number> {
  let max = 0;
  for (const seg of await repo.listSegments(source)) {
    for await (const tx of decodeSegment(repo.readStream(seg.data), `log segment ${seg.id}`)) {
      for (const rec of decodePayload(tx.payload)) {
        if (rec.kind !== 'message' || rec.prefix !== SEQUENCES_MESSAGE_PREFIX || !rec.text) continue;
        const value = (JSON.parse(rec.text) as Record<string, string>)[sequence];
        if (value !== undefined) max = Math.max(max, Number(value));
      }
    }
  }
  return max;
}

describe('PostgreSQL replay into inheritance parents', () => {
  const NAME = 'replay_inherit';
  const fx = pitrFixture('inh', (url) =>
    pgExec(
      url,
      `-- by key: the child has rows with the parent's ids (a PRIMARY KEY is not inherited)
       CREATE TABLE parent (id int PRIMARY KEY, v text);
       CREATE TABLE child (extra text) INHERITS (parent);
       ALTER TABLE child ADD PRIMARY KEY (id);
       INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 10) g;
       INSERT INTO child SELECT g, 'c' || g, 'x' FROM generate_series(1, 10) g;
       -- keyless, FULL identity: the child holds rows identical to the parent's, at the same ctids
       CREATE TABLE kparent (a int, b text);
       ALTER TABLE kparent REPLICA IDENTITY FULL;
       CREATE TABLE kchild () INHERITS (kparent);
       ALTER TABLE kchild REPLICA IDENTITY FULL;
       INSERT INTO kparent VALUES (1, 'same'), (2, 'same'), (3, 'other');
       INSERT INTO kchild VALUES (2, 'same'), (1, 'same'), (3, 'other'), (4, 'child');
       -- TRUNCATE ONLY
       CREATE TABLE tparent (id int PRIMARY KEY, v text);
       CREATE TABLE tchild () INHERITS (tparent);
       ALTER TABLE tchild ADD PRIMARY KEY (id);
       INSERT INTO tparent SELECT g, 't' || g FROM generate_series(1, 5) g;
       INSERT INTO tchild SELECT g, 'tc' || g FROM generate_series(1, 5) g;
       -- partitioned: TRUNCATE of the root is sent as its leaves
       CREATE TABLE events (id int, at date NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
       CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
       CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
       INSERT INTO events SELECT g, date '2024-12-01' + g FROM generate_series(1, 60) g;`,
    ),
  );

  async function restoredAt(micros: bigint): Promise<Record<string, TableChecksum>> {
    const t = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros }, t.url);
    return pgTableChecksums(t.url);
  }

  it('restores TRUNCATE ONLY, and UPDATE/DELETE of a parent, without touching the children', async () => {
    const stream = startStream(fx.repo, driver, fx.source.url, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, fx.source.url, NAME);
    const checkpoints: Array<{ at: bigint; sums: Record<string, TableChecksum> }> = [];
    const checkpoint = async (): Promise<void> => {
      checkpoints.push({ sums: await pgTableChecksums(fx.source.url), at: await serverNowMicros(fx.source.url) });
    };
    try {
      await pgExec(fx.source.url, `TRUNCATE ONLY tparent`);
      await pgExec(fx.source.url, `TRUNCATE events`);
      await pgExec(fx.source.url, `INSERT INTO events VALUES (1, '2025-06-01'), (2, '2024-06-01')`);
      await checkpoint();
      // by key, several rows in one statement (replay groups them) and one at a time
      await pgExec(fx.source.url, `UPDATE ONLY parent SET v = v || '!' WHERE id <= 5`);
      await pgExec(fx.source.url, `DELETE FROM ONLY parent WHERE id IN (6, 7)`);
      await pgExec(fx.source.url, `UPDATE ONLY parent SET id = 70 WHERE id = 8`);
      // inheritance without ONLY on the source: sent as changes of each table
      await pgExec(fx.source.url, `UPDATE parent SET v = v || '+' WHERE id = 9`);
      // FULL identity: one of two identical parent rows, and rows that look like the child's
      await pgExec(
        fx.source.url,
        `DELETE FROM ONLY kparent WHERE ctid = (SELECT ctid FROM ONLY kparent WHERE a = 2 LIMIT 1)`,
      );
      await pgExec(fx.source.url, `UPDATE ONLY kparent SET b = 'changed' WHERE a = 1`);
      await pgExec(fx.source.url, `UPDATE ONLY kparent SET a = 30 WHERE a = 3`);
      await checkpoint();
      await stream.waitCovered(checkpoints.at(-1)!.at);
    } finally {
      await stream.stop();
    }

    const src = checkpoints.at(-1)!.sums;
    for (const t of ['parent', 'child', 'kparent', 'kchild', 'tchild']) {
      expect(src[t]?.rows, t).toBeGreaterThan(0);
    }
    expect(src['tparent']?.rows).toBe(0);
    for (const cp of checkpoints) expect(await restoredAt(cp.at)).toEqual(cp.sums);
  });
});

describe('PostgreSQL replay of changes sent through a partitioned root', () => {
  // Our publication leaves publish_via_partition_root off (changes arrive as the leaves'); one that
  // has it on sends the root's relation, and replay must then reach the partitions.
  let target: TestDatabase;
  beforeAll(async () => {
    target = await createPgDatabase('root_dst');
    await pgExec(
      target.url,
      `CREATE TABLE kp (a int, b text) PARTITION BY LIST (a);
       CREATE TABLE kp_1 PARTITION OF kp FOR VALUES IN (1);
       CREATE TABLE kp_2 PARTITION OF kp FOR VALUES IN (2);
       INSERT INTO kp VALUES (1, 'x'), (2, 'x');
       CREATE TABLE rp (id int PRIMARY KEY, v text) PARTITION BY RANGE (id);
       CREATE TABLE rp_1 PARTITION OF rp FOR VALUES FROM (0) TO (100);
       CREATE TABLE rp_2 PARTITION OF rp FOR VALUES FROM (100) TO (200);
       INSERT INTO rp VALUES (1, 'a'), (150, 'b');`,
    );
  });
  afterAll(async () => {
    await target?.drop().catch(() => {});
  });

  it('updates, deletes and truncates through the root', async () => {
    const kp = relation(1, 'kp', 'f', [
      ['a', INT4, 1],
      ['b', TEXT, 1],
    ]);
    const rp = relation(2, 'rp', 'd', [
      ['id', INT4, 1],
      ['v', TEXT, 0],
    ]);
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    try {
      const apply = (position: string, ...records: unknown[][]): Promise<void> =>
        applyTransaction(c, {
          position,
          commitTime: 1n,
          changes: records.length,
          payload: changePayload([kp, rp, ...records]),
        });
      // both partitions hold a row at ctid (0,1): only the one in kp_2 may go
      await apply('0000000000000001', ['D', 1, 'O', ['2', 'x']], ['U', 2, ['150', 'b2'], null, null]);
      const left = await pgExec(target.url, `SELECT a, b FROM kp ORDER BY a`);
      expect(left.rows).toEqual([{ a: 1, b: 'x' }]);
      const rows = await pgExec(target.url, `SELECT id, v FROM rp ORDER BY id`);
      expect(rows.rows).toEqual([
        { id: 1, v: 'a' },
        { id: 150, v: 'b2' },
      ]);
      await apply('0000000000000002', ['T', [1, 2], 0, 0]);
      const n = await pgExec(
        target.url,
        `SELECT (SELECT count(*) FROM kp)::int + (SELECT count(*) FROM rp)::int AS n`,
      );
      expect(n.rows[0].n).toBe(0);
    } finally {
      await c.end();
    }
  });
});

describe('PostgreSQL restore of sequences no column owns', () => {
  const NAME = 'replay_sequences';
  const fx = pitrFixture('seq', (url) =>
    pgExec(
      url,
      `-- hand-made, owned by nothing, shared by two tables
       CREATE SEQUENCE invoice_seq;
       CREATE TABLE invoices (id bigint PRIMARY KEY DEFAULT nextval('invoice_seq'), note text);
       CREATE TABLE invoice_drafts (id int PRIMARY KEY DEFAULT nextval('invoice_seq'), note text);
       -- descending, owned by nothing: -1, -2, …
       CREATE SEQUENCE credit_seq INCREMENT BY -1;
       CREATE TABLE credits (id bigint PRIMARY KEY DEFAULT nextval('credit_seq'), note text);
       -- descending and OWNED BY its column: the column's max is the wrong end
       CREATE TABLE refunds (id int PRIMARY KEY, note text);
       CREATE SEQUENCE refund_seq INCREMENT BY -1 OWNED BY refunds.id;
       ALTER TABLE refunds ALTER id SET DEFAULT nextval('refund_seq');
       -- a text column: its values cannot say which numbers were handed out; must not break restore
       CREATE SEQUENCE note_seq;
       CREATE TABLE notes (ref text PRIMARY KEY DEFAULT 'N-' || nextval('note_seq'), body text);
       -- serial on a partitioned table: the partitions' copies of the default are covered by it
       CREATE TABLE orders (id serial, at date NOT NULL, note text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
       CREATE TABLE orders_1 PARTITION OF orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
       CREATE TABLE orders_2 PARTITION OF orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
       INSERT INTO orders (at, note) VALUES ('2024-05-05', 'o'), ('2025-05-05', 'o');
       INSERT INTO invoices (note) SELECT 'i' FROM generate_series(1, 3);
       INSERT INTO credits (note) SELECT 'c' FROM generate_series(1, 3);
       INSERT INTO refunds (note) SELECT 'r' FROM generate_series(1, 3);
       INSERT INTO notes (body) VALUES ('n');`,
    ),
  );

  it('hands out fresh values after restore --at the last commit, for default-only and descending sequences', async () => {
    const stream = startStream(fx.repo, driver, fx.source.url, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, fx.source.url, NAME);
    let at: bigint;
    try {
      // no wait: the values come from the columns, not from the stream's sequence records
      for (let i = 0; i < 5; i++) {
        await pgExec(
          fx.source.url,
          `INSERT INTO invoices (note) VALUES ('i${i}');
           INSERT INTO invoice_drafts (note) SELECT 'd${i}' FROM generate_series(1, 4);
           INSERT INTO credits (note) SELECT 'c${i}' FROM generate_series(1, 3);
           INSERT INTO refunds (note) SELECT 'r${i}' FROM generate_series(1, 3);
           INSERT INTO notes (body) VALUES ('n${i}');
           INSERT INTO orders (at, note) SELECT date '2024-11-29' + g, 'o${i}' FROM generate_series(1, 4) g;`,
        );
      }
      // a sequence created while streaming (replayed DDL creates it at its start on the target)
      await pgExec(
        fx.source.url,
        `CREATE SEQUENCE late_seq;
         CREATE TABLE late (id int PRIMARY KEY DEFAULT nextval('late_seq'), note text)`,
      );
      await pgExec(fx.source.url, `INSERT INTO late (note) SELECT 'l' FROM generate_series(1, 5)`);
      at = await serverNowMicros(fx.source.url);
      await stream.waitCovered(at);
    } finally {
      await stream.stop();
    }
    const sums = await pgTableChecksums(fx.source.url);

    const target = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, target.url);
    expect(await pgTableChecksums(target.url)).toEqual(sums);
    const next = async (table: string): Promise<number> => {
      const r = await pgExec(
        target.url,
        `INSERT INTO ${table} (note) VALUES ('after restore') RETURNING id`,
      );
      return Number(r.rows[0].id);
    };
    expect(await next('invoice_drafts')).toBe(29);
    expect(await next('invoices')).toBe(30);
    expect(await next('credits')).toBe(-19);
    expect(await next('refunds')).toBe(-19);
    expect(await next('late')).toBe(6);
    const order = await pgExec(target.url, `INSERT INTO orders (at) VALUES ('2025-12-01') RETURNING id`);
    expect(order.rows[0].id).toBe(23);
  });

  it('a value handed out in an expression is known from the sequence records, 2 s apart', async () => {
    const stream = startStream(fx.repo, driver, fx.source.url, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, fx.source.url, NAME);
    let at: bigint;
    let last: number;
    try {
      await pgExec(fx.source.url, `INSERT INTO notes (body) SELECT 'late' FROM generate_series(1, 3)`);
      last = Number((await pgExec(fx.source.url, 'SELECT last_value FROM note_seq')).rows[0].last_value);
      // no column says which numbers 'N-' || nextval handed out: only a record of the sequence
      // does, and one is taken every 2 s while it changes; wait until the stored log holds one
      // (a fixed wait can end before it on a busy machine)
      await waitFor(
        async () => (await recordedSequenceValue(fx.repo, NAME, 'public.note_seq')) >= last,
        `a sequence record of note_seq at ${last} or more in the stored log`,
        60_000,
        200,
      );
      at = await serverNowMicros(fx.source.url);
      await stream.waitCovered(at);
    } finally {
      await stream.stop();
    }
    const restored = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, restored.url);
    const r = await pgExec(restored.url, `INSERT INTO notes (body) VALUES ('after restore') RETURNING ref`);
    expect(r.rows[0].ref).toBe(`N-${last + 1}`);
  });
});
