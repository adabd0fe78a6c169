/**
 * Snapshots taken with --tables / --schemas on a real PostgreSQL, through the real CLI: a partial
 * snapshot never stands in for the whole database (restore --at and --latest, list, forget), and
 * a name that selects no table is refused with the names, by snapshot and by restore, before
 * anything is stored or written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgTableChecksums } from '../../scripts/crm/checksums.js';
import { createPgDatabase, type TestDatabase } from '../harness/index.js';
import { cliProcess, runCli } from '../helpers/cli.js';
import { pgExec, serverNowMicros } from '../helpers/pitr.js';
import { formatMicros } from '../../src/util/time.js';

const SEED = `
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL, amount numeric NOT NULL);
CREATE SCHEMA archive;
CREATE TABLE archive.old_orders (id int PRIMARY KEY, amount numeric NOT NULL);
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 50) g;
INSERT INTO orders SELECT g, 1 + g % 50, g * 10 FROM generate_series(1, 200) g;
INSERT INTO archive.old_orders SELECT g, g FROM generate_series(1, 20) g;
`;

interface Listed {
  snapshots: Array<{ id: string; partial: boolean; filter?: { tables?: string[]; schemas?: string[] } }>;
  restorable: Array<{ from: string; to: string }>;
}

describe('partial snapshots and filters on PostgreSQL (CLI)', () => {
  let dir: string;
  let source: TestDatabase;
  const dbs: TestDatabase[] = [];
  const env = (): Record<string, string> => ({
    CRM_BACKUP_REPO: join(dir, 'repo'),
    CRM_BACKUP_PASSWORD: 'partial password',
  });
  const target = async (): Promise<TestDatabase> => {
    const d = await createPgDatabase('partial_dst');
    dbs.push(d);
    return d;
  };
  const listed = async (): Promise<Listed> => {
    const r = await runCli(['list', '--name', 'partial', '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as Listed[])[0]!;
  };
  const sums = async (url: string) => ({
    public: await pgTableChecksums(url),
    archive: await pgTableChecksums(url, { schema: 'archive' }),
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'crmb-partial-'));
    source = await createPgDatabase('partial_src');
    await pgExec(source.url, SEED);
    expect((await runCli(['init'], { env: env() })).code).toBe(0);
  });
  afterAll(async () => {
    for (const d of dbs) await d.drop().catch(() => {});
    await source?.drop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });

  it('a partial snapshot is never the base of --at or --latest, list marks it, forget counts it apart', async () => {
    const stream = cliProcess(
      ['stream', '--source', source.url, '--name', 'partial', '--segment-seconds', '1'],
      {
        env: env(),
      },
    );
    let streamErr = '';
    stream.stderr.on('data', (d: Buffer) => (streamErr += d));
    const streamExit = new Promise<number | null>((r) => stream.on('close', (c) => r(c)));
    try {
      while (!streamErr.includes('"stream.start"')) {
        if (stream.exitCode !== null) throw new Error(streamErr);
        await new Promise((r) => setTimeout(r, 100));
      }
      const snap = async (...args: string[]): Promise<string> => {
        const r = await runCli(['snapshot', '--source', source.url, '--name', 'partial', ...args], {
          env: env(),
        });
        expect(r.code, r.stderr).toBe(0);
        return r.stdout.trim();
      };
      const full = await snap('--tag', 'full');
      const partial = await snap('--tables', 'customers');
      await pgExec(
        source.url,
        `UPDATE orders SET amount = amount + 1 WHERE id % 3 = 0;
         INSERT INTO orders SELECT g, 1, 5 FROM generate_series(201, 260) g;
         DELETE FROM archive.old_orders WHERE id > 15;
         UPDATE customers SET name = name || ' (vip)' WHERE id < 5;`,
      );
      const expected = await sums(source.url);
      const at = await serverNowMicros(source.url);
      await pgExec(source.url, 'DELETE FROM orders'); // after the instant: must not be restored
      for (let i = 0; i < 200; i++) {
        const to = (await listed()).restorable.at(-1)?.to;
        if (to !== undefined && to >= formatMicros(at)) break;
        await new Promise((r) => setTimeout(r, 250));
      }

      const pitr = await target();
      const r = await runCli(['restore', '--target', pitr.url, '--at', formatMicros(at), '--json'], {
        env: env(),
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ snapshot: full });
      expect(await sums(pitr.url)).toEqual(expected);

      const latest = await target();
      const l = await runCli(['restore', '--target', latest.url, '--latest', '--json'], { env: env() });
      expect(l.code, l.stderr).toBe(0);
      expect(JSON.parse(l.stdout)).toMatchObject({ snapshot: full });
      const counts = await pgExec(
        latest.url,
        'SELECT (SELECT count(*) FROM orders)::int AS o, (SELECT count(*) FROM archive.old_orders)::int AS a',
      );
      expect(counts.rows[0]).toEqual({ o: 200, a: 20 });

      // a --tables restore of what the partial snapshot holds may start from it
      const one = await target();
      const c = await runCli(
        ['restore', '--target', one.url, '--at', formatMicros(at), '--tables', 'customers', '--json'],
        {
          env: env(),
        },
      );
      expect(c.code, c.stderr).toBe(0);
      expect(JSON.parse(c.stdout)).toMatchObject({ snapshot: partial, tables: 1 });
      expect((await pgTableChecksums(one.url, { tables: ['customers'] })).customers).toEqual(
        expected.public.customers,
      );

      const list = await listed();
      expect(list.snapshots.map((s) => [s.id, s.partial, s.filter])).toEqual([
        [full, false, undefined],
        [partial, true, { tables: ['customers'] }],
      ]);
      const human = await runCli(['list', '--name', 'partial'], { env: env() });
      const lineOf = (id: string) =>
        human.stdout.split('\n').find((x) => x.includes(`snapshot ${id.slice(0, 12)}`));
      expect(lineOf(partial)).toMatch(/ 1 tables, .* {2}partial: --tables customers$/);
      expect(lineOf(full)).not.toContain('partial');

      const forget = await runCli(['forget', '--keep-last', '1', '--dry-run', '--json'], { env: env() });
      expect(forget.code, forget.stderr).toBe(0);
      const decided = JSON.parse(forget.stdout) as {
        kept: Array<{ snapshot: { id: string }; reasons: string[] }>;
        removed: unknown[];
      };
      expect(decided.kept.map((k) => [k.snapshot.id, k.reasons])).toEqual([
        [partial, ['partial, newer than the oldest kept full snapshot']],
        [full, ['last 1']],
      ]);
      expect(decided.removed).toEqual([]);
    } finally {
      stream.kill('SIGTERM');
      expect(await streamExit).toBe(0);
    }
  });

  it('refuses --tables and --schemas names that select no table, naming each, and stores nothing', async () => {
    const before = (await listed()).snapshots.length;
    const refused = async (args: string[], sentence: string): Promise<void> => {
      const r = await runCli(['snapshot', '--source', source.url, '--name', 'partial', ...args], {
        env: env(),
      });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n').at(-1)).toBe(`crm-backup: ${sentence}`);
    };
    const tail = 'no table of partial; check the spelling (no snapshot was stored).';
    await refused(['--tables', 'nosuch'], `--tables "nosuch" matches ${tail}`);
    await refused(['--tables', 'customers,nosuch,ordres'], `--tables "nosuch", "ordres" match ${tail}`);
    await refused(['--schemas', 'nosuch'], `--schemas "nosuch" matches ${tail}`);
    await refused(['--schemas', 'archive,archiv'], `--schemas "archiv" matches ${tail}`);
    // each name must select a table after both filters: old_orders lives in archive, not public
    await refused(
      ['--tables', 'old_orders', '--schemas', 'public'],
      `--tables "old_orders" and --schemas "public" match ${tail}`,
    );
    expect((await listed()).snapshots.length).toBe(before);

    const ok = await runCli(
      [
        'snapshot',
        '--source',
        source.url,
        '--name',
        'partial',
        '--tables',
        'old_orders',
        '--schemas',
        'archive',
      ],
      { env: env() },
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect((await listed()).snapshots.at(-1)).toMatchObject({
      partial: true,
      filter: { tables: ['old_orders'], schemas: ['archive'] },
    });
  });

  it('refuses restore --tables names that match no table before anything is written to the target', async () => {
    const t = await target();
    const r = await runCli(['restore', '--target', t.url, '--latest', '--tables', 'customers,nosuch'], {
      env: env(),
    });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n').at(-1)).toBe(
      'crm-backup: --tables "nosuch" matches no table in any snapshot of partial; check the spelling (nothing was restored).',
    );
    const tables = await pgExec(
      t.url,
      "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')",
    );
    expect(tables.rows[0]).toEqual({ n: 0 });
  });
});
