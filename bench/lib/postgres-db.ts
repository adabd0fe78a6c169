/**
 * The PostgreSQL side of the benchmark: the phases' calls (BenchDb), the write load's statements,
 * and the seed's finish — the tick table in its own schema, VACUUM ANALYZE and a CHECKPOINT, so
 * that neither pg_dump nor crm-backup pays for hint bits or a checkpoint the seed left behind.
 */
import pg from 'pg';
import { pgTableChecksums } from '../../scripts/crm/index.js';
import type { BenchDb } from './bench-db.js';
import { CONTACT_ID_RANGE_SQL, idRangeOf, runUpdateLoad, type LoadDb, type LoadOptions, type LoadResult } from './load.js';
import { createDb, dbSize, dropDb, query, serverNow, type DbSize } from './pg.js';
import { fmtBytes } from './report.js';
import type { SeedDb } from './seed.js';
import { say } from './steps.js';

const pgLoad: LoadDb = {
  idRange: async (url) => idRangeOf((await query(url, CONTACT_ID_RANGE_SQL))[0]),
  async session(url) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    return {
      touch: async (from, to) => (await client.query('UPDATE contacts SET updated_at = now() WHERE id BETWEEN $1 AND $2', [from, to])).rowCount ?? 0,
      close: () => client.end(),
    };
  },
};

export function runPgUpdateLoad(url: string, opts: LoadOptions): Promise<LoadResult> {
  return runUpdateLoad(pgLoad, url, opts);
}

export const postgresDb: BenchDb = {
  createDb,
  dropDb,
  serverNow,
  // the tick table is in its own schema, outside `public`: the checksums do not see it
  checksums: (url) => pgTableChecksums(url),
  updateLoad: runPgUpdateLoad,
  async closingCommit(url) {
    await query(url, 'INSERT INTO crmb_bench.tick DEFAULT VALUES');
    return undefined; // any commit after E proves E: nothing to wait for
  },
};

export const postgresSeed: SeedDb<DbSize> = {
  heartbeat: async (url, table, elapsed) => {
    const s = await dbSize(url);
    return `seeding ${table ?? ''}, ${elapsed()}, database ${fmtBytes(s.database)} so far`;
  },
  async finish(url, rows, elapsed) {
    // the closing commit after the load's end goes here (BenchDb.closingCommit)
    await query(url, 'CREATE SCHEMA crmb_bench; CREATE TABLE crmb_bench.tick (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    say(`   VACUUM ANALYZE and CHECKPOINT (${elapsed()})`);
    await query(url, 'VACUUM ANALYZE');
    await query(url, 'CHECKPOINT');
    const size = await dbSize(url);
    say(
      `   ${rows.toLocaleString('en-US')} rows; database ${fmtBytes(size.database)}, tables ${fmtBytes(size.tables)} ` +
        `(${fmtBytes(size.tablesWithIndexes)} with indexes)`,
    );
    return size;
  },
};
