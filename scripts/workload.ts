/**
 * npm run workload -- --url URL --rate R --seconds S [--seed N]
 * Runs CRM writes against a seeded database; SIGINT/SIGTERM stop it early and print the counts.
 */
import { CliUsageError, parseFlags, positiveNumber, requireUrl, runCli } from './crm/cli.js';
import { runWorkload } from './crm/workload.js';

runCli(async () => {
  const flags = parseFlags(
    { url: { type: 'string' }, rate: { type: 'string' }, seconds: { type: 'string' }, seed: { type: 'string' }, help: { type: 'boolean' } },
    process.argv.slice(2),
  );
  if (flags.help) {
    console.log('usage: npm run workload -- --url postgres://postgres@127.0.0.1:5432/crm --rate 100 --seconds 60 [--seed 1]');
    return;
  }
  const url = requireUrl(flags.url, '--url postgres://postgres@127.0.0.1:5432/crm');
  const ratePerSecond = positiveNumber('--rate', flags.rate, 50);
  const seconds = flags.seconds === undefined ? undefined : positiveNumber('--seconds', flags.seconds);
  const seed = flags.seed === undefined ? 1 : Number(flags.seed);
  if (!Number.isInteger(seed)) throw new CliUsageError(`--seed must be an integer, got ${JSON.stringify(flags.seed)}.`);
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const result = await runWorkload(url, {
    ratePerSecond,
    seed,
    signal: ac.signal,
    ...(seconds === undefined ? {} : { durationMs: seconds * 1000 }),
  });
  console.log(JSON.stringify(result));
});
