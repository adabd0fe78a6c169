/**
 * A point-in-time restore must end where the source was, also where the replay could act on its
 * own: triggers, rules and event triggers enabled ALWAYS or REPLICA (replica mode fires them, and
 * the log already holds what they did), sequences handed out in the last seconds before the instant
 * (the stream records them every 2 s), and DDL that fills a table with values computed on the source
 * (a volatile default, a type change USING a volatile expression), which logical decoding does
 * not publish. Each end to end: stream, snapshot, changes, restore --at, checksums of every table.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { driver } from '../../drivers/postgres/index.js';
import { SEQUENCES_MESSAGE_PREFIX } from '../../drivers/postgres/internal/ddl-capture.js';
import { decodePayload } from '../../drivers/postgres/internal/payload.js';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import type { Repository } from '../../src/repository/repository-api.js';
import { decodeSegment } from '../../src/repository/segment-codec.js';
import { memoryLogger } from '../../src/util/log.js';
import {
  pgExec,
  pitrFixture,
  restoreInto,
  serverNowMicros,
  startStream,
  takeSnapshot,
} from '../helpers/pitr.js';

/** Polls `check` every 200 ms until it holds; a safety net of `timeoutMs`, not a wait. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The stream's records of sequence values in the stored log of `source`, with their commit times. */
async function storedSequenceRecords(
  repo: Repository,
  source: string,
): Promise<Array<{ commitTime: bigint; values: Record<string, string> }>> {
  const out: Array<{ commitTime: bigint; values: Record<string, string> }> = [];
  for (const seg of await repo.listSegments(source)) {
    for await (const tx of decodeSegment(repo.readStream(seg.data), `log segment ${seg.id}`)) {
      for (const rec of decodePayload(tx.payload)) {
        if (rec.kind !== 'message' || rec.prefix !== SEQUENCES_MESSAGE_PREFIX || !rec.text) continue;
        out.push({ commitTime: tx.commitTime, values: JSON.parse(rec.text) as Record<string, string> });
      }
    }
  }
  return out.sort((a, b) => (a.commitTime < b.commitTime ? -1 : a.commitTime > b.commitTime ? 1 : 0));
}

/** Every user trigger, rule and event trigger of the database with its mode (`O`, `A`, `R`, `D`). */
async function switchModes(url: string): Promise<Record<string, string>> {
  const r = await pgExec(
    url,
    `SELECT 'trigger ' || t.tgrelid::regclass || '.' || t.tgname AS name, t.tgenabled::text AS mode
       FROM pg_trigger t WHERE NOT t.tgisinternal
     UNION ALL
     SELECT 'rule ' || r.ev_class::regclass || '.' || r.rulename, r.ev_enabled::text
       FROM pg_rewrite r WHERE r.rulename <> '_RETURN'
     UNION ALL
     SELECT 'event trigger ' || e.evtname, e.evtenabled::text
       FROM pg_event_trigger e WHERE e.evtname NOT LIKE 'crmb\\_%'`,
  );
  return Object.fromEntries(r.rows.map((row: { name: string; mode: string }) => [row.name, row.mode]));
}

describe('PostgreSQL replay with triggers and rules enabled ALWAYS or REPLICA', () => {
  const NAME = 'replay_triggers';
  const fx = pitrFixture('trg', (url) =>
    pgExec(
      url,
      `CREATE TABLE audit (id bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, row_id int);
       CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO audit (tbl, op, row_id) VALUES (TG_TABLE_NAME || ':' || TG_NAME, TG_OP, NEW.id);
         RETURN NEW;
       END $$;
       CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         NEW.shown := upper(NEW.name) || ' (stamped by ' || TG_NAME || ')';
         RETURN NEW;
       END $$;
       CREATE TABLE accounts (id int PRIMARY KEY, name text, shown text);
       -- ALWAYS: an audit trail that must not get a second row per change
       CREATE TRIGGER a_audit AFTER INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_row();
       ALTER TABLE accounts ENABLE ALWAYS TRIGGER a_audit;
       -- REPLICA: never fires on the source, rewrites a column where replica mode fires it
       CREATE TRIGGER b_stamp BEFORE INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION stamp();
       ALTER TABLE accounts ENABLE REPLICA TRIGGER b_stamp;
       -- ORIGIN: fires on the source; made ALWAYS by DDL while streaming
       CREATE TRIGGER c_origin AFTER INSERT ON accounts FOR EACH ROW EXECUTE FUNCTION audit_row();
       -- ALWAYS at the snapshot, DISABLED by DDL while streaming: the mode to end with is D
       CREATE TRIGGER d_always AFTER UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_row();
       ALTER TABLE accounts ENABLE ALWAYS TRIGGER d_always;
       -- an ALWAYS rule
       CREATE RULE e_rule AS ON INSERT TO accounts DO ALSO
         INSERT INTO audit (tbl, op, row_id) VALUES ('accounts:e_rule', 'INSERT', NEW.id);
       ALTER TABLE accounts ENABLE ALWAYS RULE e_rule;
       -- partitioned: the ALWAYS trigger is cloned to each partition, also to one made while streaming
       CREATE TABLE orders (id int, at date NOT NULL, note text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
       CREATE TABLE orders_2024 PARTITION OF orders FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
       CREATE TRIGGER o_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_row();
       ALTER TABLE orders ENABLE ALWAYS TRIGGER o_audit;
       -- an ALWAYS event trigger that records each DDL command in a table
       CREATE TABLE ddl_log (id bigserial PRIMARY KEY, tag text);
       CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO public.ddl_log (tag) VALUES (tg_tag);
       END $$;
       CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();
       ALTER EVENT TRIGGER log_ddl ENABLE ALWAYS;
       INSERT INTO accounts (id, name) SELECT g, 'acct ' || g FROM generate_series(1, 5) g;
       INSERT INTO orders VALUES (1, '2024-03-01', 'first');`,
    ),
  );

  it('fires none of them while replaying, and ends with each in the mode the source had', async () => {
    const src = fx.source.url;
    const stream = startStream(fx.repo, driver, src, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, src, NAME);
    let at: bigint;
    try {
      await pgExec(
        src,
        `INSERT INTO accounts (id, name) SELECT g, 'acct ' || g FROM generate_series(6, 9) g`,
      );
      await pgExec(src, `UPDATE accounts SET name = name || ' renamed' WHERE id IN (1, 6)`);
      await pgExec(src, `INSERT INTO orders VALUES (2, '2024-04-01', 'second')`);
      // modes changed, a trigger and a partition made, while streaming: replayed as DDL
      await pgExec(src, `ALTER TABLE accounts ENABLE ALWAYS TRIGGER c_origin`);
      await pgExec(src, `ALTER TABLE accounts DISABLE TRIGGER d_always`);
      await pgExec(
        src,
        `CREATE TABLE orders_2025 PARTITION OF orders FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
      );
      await pgExec(
        src,
        `CREATE TRIGGER f_new AFTER DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_row();
         ALTER TABLE accounts ENABLE REPLICA TRIGGER f_new`,
      );
      await pgExec(src, `INSERT INTO accounts (id, name) VALUES (10, 'after ddl')`);
      await pgExec(src, `UPDATE accounts SET name = 'again' WHERE id = 2`);
      await pgExec(src, `DELETE FROM accounts WHERE id = 3`);
      await pgExec(
        src,
        `INSERT INTO orders VALUES (3, '2025-02-01', 'new partition'), (4, '2024-05-01', 'old')`,
      );
      at = await serverNowMicros(src);
      await stream.waitCovered(at);
    } finally {
      await stream.stop();
    }
    const sums = await pgTableChecksums(src);
    const modes = await switchModes(src);
    // the source fired what it fires: the audit trail is what the restore must reproduce, no more
    expect(sums['audit']?.rows).toBeGreaterThan(10);
    expect(modes).toMatchObject({
      'trigger accounts.a_audit': 'A',
      'trigger accounts.b_stamp': 'R',
      'trigger accounts.c_origin': 'A',
      'trigger accounts.d_always': 'D',
      'trigger accounts.f_new': 'R',
      'trigger orders_2025.o_audit': 'A',
      'rule accounts.e_rule': 'A',
      'event trigger log_ddl': 'A',
    });

    const target = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, target.url);
    expect(await pgTableChecksums(target.url)).toEqual(sums);
    expect(await switchModes(target.url)).toEqual(modes);
  });
});

describe('PostgreSQL restore of sequences handed out in the last seconds before the instant', () => {
  const NAME = 'replay_seq_window';
  const fx = pitrFixture('seqw', (url) =>
    pgExec(
      url,
      `-- handed to the application by SELECT nextval(), stored nowhere
       CREATE SEQUENCE ticket_seq;
       -- in a text column: no integer column says which numbers went out
       CREATE SEQUENCE invoice_no START 1000;
       CREATE TABLE invoices (ref text PRIMARY KEY, amount numeric);
       -- counting down
       CREATE SEQUENCE credit_seq INCREMENT BY -1;
       -- serial, whose rows were deleted again: the column no longer shows them
       CREATE TABLE contacts (id serial PRIMARY KEY, name text);
       SELECT nextval('ticket_seq'), nextval('credit_seq');
       INSERT INTO invoices VALUES ('INV-' || nextval('invoice_no'), 1);
       INSERT INTO contacts (name) VALUES ('first');`,
    ),
  );

  /** One statement hands out values of every sequence; returns the furthest of each. */
  async function handOut(url: string, n: number): Promise<Record<string, bigint>> {
    const r = await pgExec(
      url,
      `WITH t AS (SELECT max(nextval('ticket_seq')) AS v FROM generate_series(1, ${n})),
            c AS (SELECT min(nextval('credit_seq')) AS v FROM generate_series(1, ${n})),
            i AS (INSERT INTO invoices SELECT 'INV-' || nextval('invoice_no'), g FROM generate_series(1, ${n}) g RETURNING ref),
            k AS (INSERT INTO contacts (name) SELECT 'gone' FROM generate_series(1, ${n}) RETURNING id)
       SELECT (SELECT v FROM t)::text AS ticket, (SELECT v FROM c)::text AS credit,
              (SELECT max(substr(ref, 5)::bigint) FROM i)::text AS invoice, (SELECT max(id) FROM k)::text AS contact`,
    );
    await pgExec(url, `DELETE FROM contacts WHERE name = 'gone'`);
    const row = r.rows[0] as Record<string, string>;
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, BigInt(v)]));
  }

  /** The next value each sequence hands out on the database at `url`. */
  async function nextValues(url: string): Promise<Record<string, bigint>> {
    const r = await pgExec(
      url,
      `SELECT nextval('ticket_seq')::text AS ticket, nextval('credit_seq')::text AS credit,
              nextval('invoice_no')::text AS invoice, nextval('contacts_id_seq')::text AS contact`,
    );
    const row = r.rows[0] as Record<string, string>;
    return Object.fromEntries(Object.entries(row).map(([k, v]) => [k, BigInt(v)]));
  }

  it('hands out only values beyond every one the source had handed out by the instant', async () => {
    const src = fx.source.url;
    const stream = startStream(fx.repo, driver, src, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, src, NAME);
    let at: bigint;
    let handed: Record<string, bigint>;
    const log = memoryLogger();
    try {
      await handOut(src, 20);
      // the last instant: handed out, then the instant, with no record of them taken in between
      // (records come every 2 s; these are milliseconds apart)
      handed = await handOut(src, 5);
      at = await serverNowMicros(src);
      // the source goes on after the instant; the stored log must hold a record taken after it
      const later = await handOut(src, 50);
      await until('a stored record of ticket_seq taken after the instant', async () =>
        (await storedSequenceRecords(fx.repo, NAME)).some(
          (r) => BigInt(r.values['public.ticket_seq'] ?? '0') >= later['ticket']!,
        ),
      );
      await stream.waitCovered(at);
    } finally {
      await stream.stop();
    }
    const target = await fx.target();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, target.url, { log });
    const next = await nextValues(target.url);
    expect(next['ticket']).toBeGreaterThan(handed['ticket']!);
    expect(next['invoice']).toBeGreaterThan(handed['invoice']!);
    expect(next['contact']).toBeGreaterThan(handed['contact']!);
    expect(next['credit']).toBeLessThan(handed['credit']!);
    expect(log.events.filter((e) => e.level === 'warn')).toEqual([]);
  });

  it('names the sequences that may stand behind when the stored log holds no record taken after the instant', async () => {
    const src = fx.source.url;
    const stream = startStream(fx.repo, driver, src, NAME);
    await stream.started;
    let last: { commitTime: bigint; values: Record<string, string> } | undefined;
    try {
      const handed = await handOut(src, 3);
      await until('a stored record of the values just handed out', async () => {
        last = (await storedSequenceRecords(fx.repo, NAME)).at(-1);
        return BigInt(last?.values['public.ticket_seq'] ?? '0') >= handed['ticket']!;
      });
    } finally {
      await stream.stop();
    }
    // an instant after the last stored record was read, before it committed: no record after it
    last = (await storedSequenceRecords(fx.repo, NAME)).at(-1)!;
    const at = BigInt(last.values['@sampled']!) + 1n;
    expect(at).toBeLessThan(last.commitTime);
    const target = await fx.target();
    const log = memoryLogger();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, target.url, { log });
    const warned = log.events.filter((e) => e.level === 'warn').map((e) => e.message);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/public\.ticket_seq.*may stand behind/);
    expect(warned[0]).toContain('public.invoice_no');
  });
});

describe('PostgreSQL replay of DDL that fills a table with values computed on the source', () => {
  const NAME = 'replay_rewrites';
  const fx = pitrFixture('rwr', (url) =>
    pgExec(
      url,
      `CREATE TABLE people (id int PRIMARY KEY, name text NOT NULL);
       INSERT INTO people SELECT g, 'person ' || g FROM generate_series(1, 300) g;
       -- no key: REPLICA IDENTITY FULL, duplicate rows
       CREATE TABLE tags (label text, n int);
       INSERT INTO tags SELECT 'tag ' || (g % 7), g % 3 FROM generate_series(1, 120) g;
       -- partitioned: each partition is rewritten on its own
       CREATE TABLE events (id int, at date NOT NULL, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
       CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
       CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
       INSERT INTO events SELECT g, date '2024-10-01' + g, 'e' || g FROM generate_series(1, 200) g;
       -- inheritance: the child is rewritten with its parent
       CREATE TABLE notes (id int PRIMARY KEY, body text);
       CREATE TABLE pinned_notes (pinned_at date) INHERITS (notes);
       INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 50) g;
       INSERT INTO pinned_notes SELECT g, 'pinned ' || g, date '2024-01-01' + g FROM generate_series(51, 80) g;`,
    ),
  );

  it('restores the values the source computed, not new ones (table rewrites and stored defaults)', async () => {
    const src = fx.source.url;
    const stream = startStream(fx.repo, driver, src, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, src, NAME);
    let at: bigint;
    try {
      await pgExec(src, `ALTER TABLE people ADD COLUMN id2 uuid DEFAULT gen_random_uuid()`);
      await pgExec(src, `ALTER TABLE people ADD COLUMN score float8 DEFAULT random()`);
      await pgExec(src, `ALTER TABLE tags ADD COLUMN seen timestamptz DEFAULT clock_timestamp()`);
      await pgExec(
        src,
        `ALTER TABLE people ALTER COLUMN name TYPE varchar(40) USING name || ' #' || (random() * 1000)::int`,
      );
      await pgExec(src, `ALTER TABLE events ADD COLUMN weight float8 DEFAULT random()`);
      await pgExec(src, `ALTER TABLE notes ADD COLUMN token uuid DEFAULT gen_random_uuid()`);
      // in one transaction with changes around it, and a second rewrite of a rewritten table
      await pgExec(
        src,
        `BEGIN;
         INSERT INTO people (id, name) VALUES (1001, 'before');
         ALTER TABLE people ADD COLUMN lucky int DEFAULT (random() * 100)::int;
         UPDATE people SET name = 'after' WHERE id = 1001;
         COMMIT`,
      );
      // no rewrite: a default that is not volatile is evaluated once and kept for the old rows
      await pgExec(
        src,
        `ALTER TABLE people ADD COLUMN created_at timestamptz DEFAULT now(), ADD COLUMN status text DEFAULT 'new'`,
      );
      await pgExec(src, `ALTER TABLE tags ADD COLUMN first_seen timestamptz DEFAULT statement_timestamp()`);
      await pgExec(src, `ALTER TABLE events ADD COLUMN logged_at timestamptz DEFAULT now()`);
      // later changes find their rows by key and, without a key, by every column
      await pgExec(src, `UPDATE people SET score = 0 WHERE id <= 10`);
      await pgExec(src, `UPDATE tags SET n = n + 10 WHERE label = 'tag 3'`);
      await pgExec(src, `DELETE FROM tags WHERE label = 'tag 5'`);
      await pgExec(src, `UPDATE events SET what = 'changed' WHERE id % 20 = 0`);
      await pgExec(src, `INSERT INTO people (id, name) VALUES (2000, 'late')`);
      at = await serverNowMicros(src);
      await stream.waitCovered(at);
    } finally {
      await stream.stop();
    }
    const sums = await pgTableChecksums(src);
    expect(Object.keys(sums)).toEqual(
      expect.arrayContaining(['people', 'tags', 'events_2024', 'events_2025', 'notes', 'pinned_notes']),
    );
    const target = await fx.target();
    const log = memoryLogger();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, target.url, { log });
    expect(await pgTableChecksums(target.url)).toEqual(sums);
    expect(log.events.filter((e) => e.level === 'warn')).toEqual([]);
  });
});

describe('PostgreSQL replay of a rewrite whose values the source would not let the stream read', () => {
  const NAME = 'replay_rewrite_rls';
  // roles belong to the server: one of our own, dropped once the databases are gone
  const role = `crmb_rls_${process.pid}_${Date.now() % 100000}`;
  afterAll(async () => {
    await pgExec(inject('pgUrl'), `DROP ROLE IF EXISTS ${role}`).catch(() => {});
  });
  const fx = pitrFixture('rls', async (url) => {
    await pgExec(url, `DROP ROLE IF EXISTS ${role}; CREATE ROLE ${role}`);
    await pgExec(
      url,
      `CREATE TABLE secrets (id int PRIMARY KEY, owner_name text, body text);
       INSERT INTO secrets SELECT g, 'someone else', 'secret ' || g FROM generate_series(1, 20) g;
       ALTER TABLE secrets OWNER TO ${role};
       -- its owner sees only its own rows, also when it is the one running the DDL
       ALTER TABLE secrets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
       CREATE POLICY own ON secrets USING (owner_name = current_user);`,
    );
  });

  it('names the table whose values differ from the source', async () => {
    const src = fx.source.url;
    const stream = startStream(fx.repo, driver, src, NAME);
    await stream.started;
    await takeSnapshot(fx.repo, driver, src, NAME);
    let at: bigint;
    try {
      await pgExec(
        src,
        `SET ROLE ${role}; ALTER TABLE secrets ADD COLUMN token uuid DEFAULT gen_random_uuid()`,
      );
      at = await serverNowMicros(src);
      await stream.waitCovered(at);
    } finally {
      await stream.stop();
    }
    const target = await fx.target();
    const log = memoryLogger();
    await restoreInto(fx.repo, driver, NAME, { kind: 'time', micros: at }, target.url, { log });
    const warned = log.events.filter((e) => e.level === 'warn').map((e) => e.message);
    expect(warned).toEqual([expect.stringMatching(/^Table public\.secrets differs from the source/)]);
  });
});
