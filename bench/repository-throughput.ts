/**
 * Repository write throughput against `zstd -3 -T1` on the same CRM-like bytes.
 *   npx tsx bench/repository-throughput.ts [--mb 512] [--workers N] [--keep]
 * Our pipeline = content-defined chunking + keyed hash + zstd -3 + AES-256-GCM + local folder writes
 * (temp file, fsync, rename). Target: at least 0.8x the zstd CLI's single-thread throughput.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openStorage } from '../src/storage/index.js';
import { initRepository } from '../src/repository/index.js';
import { Secret } from '../src/util/redact.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const MB = 1024 * 1024;
const sizeMb = Number(arg('mb', '512'));
const workers = Number(arg('workers', String(Math.max(1, Math.min(4, availableParallelism() - 1)))));

const STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'];
const NAMES = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Ken', 'Margaret', 'Linus', 'Radia'];

/** A PostgreSQL COPY text line of a contacts-like table: ids, names, emails, phones, money, timestamps. */
function row(i: number): string {
  const h = Math.imul(i ^ 0x9e3779b9, 2654435761) >>> 0;
  const f = NAMES[h % 10] as string;
  const l = NAMES[(h >>> 5) % 10] as string;
  const ts = `2024-${String((h % 12) + 1).padStart(2, '0')}-${String(((h >>> 8) % 28) + 1).padStart(2, '0')} ${String(h % 24).padStart(2, '0')}:${String((h >>> 3) % 60).padStart(2, '0')}:${String((h >>> 9) % 60).padStart(2, '0')}+00`;
  const note = (h % 3 === 0) ? `Called about renewal; follow up ${h.toString(36)}` : '\\N';
  return `${i}\t${h % 50_000}\t${f}\t${l}\t${f.toLowerCase()}.${l.toLowerCase()}${h % 9973}@example.com\t+1-555-${String(h % 10_000).padStart(4, '0')}\t${STAGES[(h >>> 12) % 6]}\t${((h % 10_000_000) / 100).toFixed(2)}\t${ts}\t${note}\n`;
}

async function generate(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  let written = 0;
  let i = 0;
  while (written < bytes) {
    let s = '';
    while (s.length < 1 << 20) s += row(i++);
    const buf = Buffer.from(s).subarray(0, Math.min(s.length, bytes - written));
    written += buf.length;
    if (!out.write(buf)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Wall seconds and CPU seconds (user+sys, from bash's `times`) of one `zstd -3 -T1` run. */
function timeZstd(path: string): { wall: number; cpu: number } {
  const t0 = performance.now();
  const out = execFileSync('bash', ['-c', 'zstd -3 -T1 -q -c "$1" > /dev/null; times', 'bench', path]).toString();
  const wall = (performance.now() - t0) / 1000;
  // `times` prints the shell's then the children's user/sys times, e.g. "0m1.234s 0m0.056s".
  const secs = [...out.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { wall, cpu: (secs[2] ?? 0) + (secs[3] ?? 0) };
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'crmb-bench-'));
  const file = join(dir, 'contacts.copy');
  try {
    await generate(file, sizeMb * MB);
    const bytes = (await stat(file)).size;
    timeZstd(file); // warm the page cache so both sides read from memory
    const zstd = timeZstd(file);
    const zstdOut = execFileSync('zstd', ['-3', '-T1', '-q', '-c', file], { maxBuffer: bytes }).length;

    const storage = await openStorage(join(dir, 'repo'));
    const repo = await initRepository(storage, new Secret('bench'), { scrypt: { N: 1024, r: 8, p: 1 }, workers });
    const c0 = cpuSeconds();
    const t0 = performance.now();
    const ref = await repo.writeStream(createReadStream(file, { highWaterMark: MB }));
    const oursSec = (performance.now() - t0) / 1000;
    const oursCpu = cpuSeconds() - c0;
    const t1 = performance.now();
    let readBytes = 0;
    for await (const p of repo.readStream(ref)) readBytes += p.length;
    const readSec = (performance.now() - t1) / 1000;
    const t2 = performance.now();
    await repo.writeStream(createReadStream(file, { highWaterMark: MB }));
    const dedupSec = (performance.now() - t2) / 1000;
    await repo.close();
    const stored = Number(execFileSync('du', ['-sb', join(dir, 'repo', 'data')]).toString().split('\t')[0]);

    const mbs = (sec: number): string => (bytes / MB / sec).toFixed(0);
    console.log(`input            ${(bytes / MB).toFixed(0)} MiB CRM-like COPY text, ${ref.chunks.length} chunks (avg ${(bytes / ref.chunks.length / 1024).toFixed(0)} KiB), ${availableParallelism()} CPUs, ${workers} codec workers`);
    console.log(`load average     ${loadavg().map((l) => l.toFixed(1)).join(' ')} (other processes skew wall-clock numbers; CPU-time figures do not)`);
    console.log(`zstd -3 -T1      ${mbs(zstd.wall)} MB/s wall, ${mbs(zstd.cpu)} MB per CPU-second, ratio ${(bytes / zstdOut).toFixed(2)}`);
    console.log(`crm-backup write ${mbs(oursSec)} MB/s wall, ${mbs(oursCpu)} MB per CPU-second, ratio ${(bytes / stored).toFixed(2)} (stored ${(stored / MB).toFixed(1)} MiB)`);
    console.log(`ours / zstd      ${(zstd.wall / oursSec).toFixed(2)}x wall, ${(zstd.cpu / oursCpu).toFixed(2)}x CPU efficiency`);
    console.log(`re-write (dedup) ${mbs(dedupSec)} MB/s`);
    console.log(`read back        ${mbs(readSec)} MB/s (${readBytes === bytes ? 'all bytes' : 'SIZE MISMATCH'})`);
  } finally {
    if (!process.argv.includes('--keep')) await rm(dir, { recursive: true, force: true });
  }
}

await main();
