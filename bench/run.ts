/**
 * npm run bench: every benchmark, one after another, each in its own process (a crash or a
 * leaked handle in one cannot skew or stop the next). Arguments go to the PostgreSQL benchmark:
 *   npm run bench -- --scale 0.2
 *   npm run bench -- --only postgres --scale 0.2
 * Benchmarks that are not in the checkout yet are skipped with a line saying so. A benchmark that
 * cannot run here (MongoDB without a server) exits 0 after a line `… benchmark NOT RUN: why`: the
 * summary shows it as not run, never as ok.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Bench {
  readonly file: string;
  readonly args: readonly string[];
}

// `--only NAME` (postgres, mysql, repository-throughput, mongodb) picks one; everything else goes to postgres
const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const only = onlyAt >= 0 ? argv.splice(onlyAt, 2)[1] : undefined;

const BENCHES: readonly Bench[] = [
  { file: 'bench/postgres.ts', args: argv },
  // another engineer's benchmark, run with its own defaults
  { file: 'bench/repository-throughput.ts', args: [] },
  // MySQL/MariaDB against mariadb-dump, mydumper, mariadb and myloader, at its default scale
  { file: 'bench/mysql.ts', args: [] },
  // MongoDB against mongodump/mongorestore, on the server CRMB_BENCH_MONGODB_URL names (none: NOT RUN)
  { file: 'bench/mongodb.ts', args: [] },
].filter((b) => only === undefined || b.file === `bench/${only}.ts`);

let current: ChildProcess | undefined;

const NOT_RUN_LINE = /^(?:\S+ )+benchmark NOT RUN: (.*)$/m;

/** Runs one benchmark, its output passed through; `notRun` is its reason when it said it could not run. */
function run(b: Bench): Promise<{ code: number; notRun?: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, b.file), ...b.args], { cwd: ROOT, stdio: ['inherit', 'pipe', 'inherit'] });
    let head = ''; // the start of its output, where a NOT RUN line would be
    child.stdout!.on('data', (d: Buffer) => {
      process.stdout.write(d);
      if (head.length < 4096) head += d.toString();
    });
    child.once('error', (e) => {
      process.stderr.write(`bench: cannot start ${b.file}: ${e.message}\n`);
      done({ code: 1 });
    });
    current = child;
    child.once('close', (code, signal) => {
      current = undefined;
      const notRun = code === 0 ? NOT_RUN_LINE.exec(head)?.[1] : undefined;
      done({ code: code ?? (signal === 'SIGINT' ? 130 : 1), ...(notRun ? { notRun } : {}) });
    });
  });
}

async function main(): Promise<number> {
  if (BENCHES.length === 0) {
    process.stderr.write(`bench: no benchmark named "${only}"; use postgres, mysql, mongodb or repository-throughput.\n`);
    return 2;
  }
  const outcomes: string[] = [];
  let worst = 0;
  for (const b of BENCHES) {
    if (!existsSync(resolve(ROOT, b.file))) {
      outcomes.push(`${b.file}: skipped (not in this checkout)`);
      continue;
    }
    process.stdout.write(`\n##### ${b.file} ${b.args.join(' ')}\n`);
    const { code, notRun } = await run(b);
    outcomes.push(`${b.file}: ${notRun ? `NOT RUN (${notRun})` : code === 0 ? 'ok' : `FAILED (exit ${code})`}`);
    if (code === 130) return 130; // Ctrl-C stops the whole run, not just the current benchmark
    worst = Math.max(worst, code);
  }
  process.stdout.write(`\n##### summary\n${outcomes.join('\n')}\n`);
  return worst === 0 ? 0 : 1;
}

// Pass interrupts on, so the running benchmark cleans up its servers and folders and exits;
// from a terminal the child gets Ctrl-C itself too, and a second SIGINT is harmless.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => current?.kill(sig));
main().then((code) => process.exit(code));
