/**
 * Where each restore's server time went, from a PostgreSQL server log the benchmark kept
 * (bench/results/postgres-<time>-server.log; lib/pg-timeline.ts says how it is read).
 *   npx tsx bench/pg-timeline.ts <server.log>
 */
import { readFileSync } from 'node:fs';
import { formatRun, parseServerLog, summarizeRuns } from './lib/pg-timeline.js';

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx bench/pg-timeline.ts <server.log>');
  process.exit(2);
}
for (const run of summarizeRuns(parseServerLog(readFileSync(file, 'utf8')))) console.log(formatRun(run));
