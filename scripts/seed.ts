/**
 * npm run seed -- --url URL --scale N [--seed S] [--no-migrate]
 * Creates the reference CRM schema (knex migrations) and fills it with deterministic data.
 */
import { CliUsageError, parseFlags, positiveNumber, requireUrl, runCli } from './crm/cli.js';
import { seedCrm } from './crm/seed.js';
import { tableBytes, totalBytes } from './crm/size.js';

runCli(async () => {
  const flags = parseFlags(
    { url: { type: 'string' }, scale: { type: 'string' }, seed: { type: 'string' }, 'no-migrate': { type: 'boolean' }, help: { type: 'boolean' } },
    process.argv.slice(2),
  );
  if (flags.help) {
    console.log('usage: npm run seed -- --url postgres://postgres@127.0.0.1:5432/crm --scale 1 [--seed 1] [--no-migrate]');
    return;
  }
  const url = requireUrl(flags.url, '--url postgres://postgres@127.0.0.1:5432/crm or --url mysql://root@127.0.0.1:3306/crm');
  const scale = positiveNumber('--scale', flags.scale, 1);
  const seed = flags.seed === undefined ? 1 : Number(flags.seed);
  if (!Number.isInteger(seed)) throw new CliUsageError(`--seed must be an integer, got ${JSON.stringify(flags.seed)}.`);
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  const result = await seedCrm(url, { scale, seed, migrate: !flags['no-migrate'], signal: ac.signal });
  const bytes = totalBytes(await tableBytes(url));
  console.log(JSON.stringify({ scale, seed, rows: result.rows, seconds: result.ms / 1000, bytes }));
});
