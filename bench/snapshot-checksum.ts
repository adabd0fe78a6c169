/**
 * What the per-table checksums cost a snapshot: `crm-backup snapshot` of the reference CRM on a
 * throwaway PostgreSQL 15, with checksums on and off (the hidden switch CRMB_SNAPSHOT_CHECKSUMS=0)
 * in alternating rounds on the same database, so the page cache, checkpoints and the machine's
 * mood fall on both alike; prints each run and the medians. Then the hasher alone over the
 * snapshot's COPY text, in MB/s of one core.
 *   npx tsx bench/snapshot-checksum.ts [--scale 2] [--rounds 3] [--jobs 2] [--dedup]
 * Each measured snapshot goes into a new repository, as the snapshot benchmark's does (every chunk
 * compressed and stored). `--dedup` stores them all into one repository instead: every chunk
 * after the first run is already there, nothing is compressed, and the reading, chunking and
 * hashing on the main thread are all that is left: the worst case for the checksums' share.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { rowHasher } from '../src/backup/row-checksum.js';
import { startOwnPostgres } from '../test/harness/index.js';
import { CrmCli } from './lib/crm-cli.js';
import { createDb } from './lib/pg.js';
import { postgresSeed } from './lib/postgres-db.js';
import { seedWithProgress } from './lib/seed.js';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '3' },
    jobs: { type: 'string', default: '2' },
    dedup: { type: 'boolean', default: false },
  },
});
const scale = Number(values.scale);
const rounds = Number(values.rounds);
const jobs = String(values.jobs);

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** The hasher alone: COPY text of the largest tables, hashed in 1 MiB pieces. */
async function hasherThroughput(url: string): Promise<{ mb: number; seconds: number; rows: number }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ t: string }>(
      "SELECT format('%I.%I', schemaname, relname) AS t FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY n_live_tup DESC LIMIT 3",
    );
    const texts: Buffer[] = [];
    for (const r of rows) {
      // the text form COPY writes, close enough: one row per line, tab-separated
      const q = await c.query<{ line: string }>(`SELECT t::text AS line FROM ${r.t} t`);
      texts.push(Buffer.from(q.rows.map((x) => `${x.line}\n`).join('')));
    }
    const all = Buffer.concat(texts);
    // the best of three passes: the first also pays for compiling the hasher, which a snapshot
    // of any size pays once
    let best = Infinity;
    let rowCount = 0;
    for (let pass = 0; pass < 3; pass++) {
      const start = process.hrtime.bigint();
      const h = rowHasher('lines');
      for (let off = 0; off < all.length; off += 1 << 20) h.push(all.subarray(off, off + (1 << 20)));
      rowCount = h.end().rows;
      best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
    }
    return { mb: all.length / 1e6, seconds: best, rows: rowCount };
  } finally {
    await c.end();
  }
}

async function main(): Promise<void> {
  const server = await startOwnPostgres({ settings: { wal_level: 'logical', shared_buffers: '512MB' }, timeoutMs: 120_000 });
  const repoDir = mkdtempSync(join(tmpdir(), 'crmb-bench-sum-'));
  try {
    const source = await createDb(server.url, 'crm');
    console.log(`seeding the reference CRM at scale ${scale}`);
    await seedWithProgress(postgresSeed, source, scale, 1);
    const shared = new CrmCli(join(repoDir, 'repo'), 'bench password', false);
    await shared.run(['init']);
    const times = { on: [] as number[], off: [] as number[] };
    // one unmeasured snapshot first: it warms the page cache (and, with --dedup, stores every chunk once)
    await shared.run(['snapshot', '--source', source, '--jobs', jobs]);
    let n = 0;
    for (let i = 0; i < rounds; i++) {
      for (const mode of i % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const dir = join(repoDir, `run-${++n}`);
        const cli = values.dedup ? shared : new CrmCli(dir, 'bench password', false);
        if (!values.dedup) await cli.run(['init']);
        cli.env['CRMB_SNAPSHOT_CHECKSUMS'] = mode === 'on' ? '1' : '0';
        const r = await cli.run(['snapshot', '--source', source, '--jobs', jobs]);
        if (!values.dedup) rmSync(dir, { recursive: true, force: true });
        times[mode].push(r.seconds);
        console.log(`round ${i + 1} checksums ${mode.padEnd(3)} ${r.seconds.toFixed(2)} s, peak ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB`);
      }
    }
    console.log(
      `${values.dedup ? 'one repository (deduplicated)' : 'a new repository each'}; median of ${rounds}: checksums on ${median(times.on).toFixed(2)} s, off ${median(times.off).toFixed(2)} s ` +
        `(${(((median(times.on) - median(times.off)) / median(times.off)) * 100).toFixed(1)}%)`,
    );
    const h = await hasherThroughput(source);
    console.log(
      `hasher alone: ${h.mb.toFixed(0)} MB, ${h.rows} rows in ${h.seconds.toFixed(2)} s = ${(h.mb / h.seconds).toFixed(0)} MB/s on one core`,
    );
  } finally {
    await server.stop();
    rmSync(repoDir, { recursive: true, force: true });
  }
}

await main();
