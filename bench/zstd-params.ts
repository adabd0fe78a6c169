/**
 * zstd parameter sets on a sample of table data, in 1 MiB pieces as the repository compresses
 * chunks (one context kept and reused, as the codec worker does).
 *   npx tsx bench/zstd-params.ts <sample file> [--rounds 4]
 * A sample: a `mariadb-dump` or `pg_dump --data-only` file, or a snapshot's streams read back.
 * Each round runs every set once, in turn, after a warm-up pass (the first pass over fresh
 * memory is much slower on this VM whatever the set); the medians are printed with the output
 * bytes. codec.ts's zstdParameters() holds the set the repository uses for each level.
 */
import { readFileSync } from 'node:fs';
import { Compressor } from 'zstd-napi';
import { zstdParameters } from '../src/repository/codec.js';

const PIECE = 1 << 20;

const file = process.argv[2];
const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt > 0 ? Number(process.argv[roundsAt + 1]) : 4;
if (!file || !(rounds > 0)) {
  console.error('usage: npx tsx bench/zstd-params.ts <sample file> [--rounds 4]');
  process.exit(2);
}

const sets: Array<[string, Parameters<Compressor['setParameters']>[0]]> = [
  ['level 3 (zstd defaults)', { compressionLevel: 3 }],
  ['level 3 (crm-backup)', zstdParameters(3)],
  ['level 2', { compressionLevel: 2 }],
  ['level 6', { compressionLevel: 6 }],
];

function pass(
  data: Buffer,
  params: Parameters<Compressor['setParameters']>[0],
): { seconds: number; bytes: number } {
  const c = new Compressor();
  c.setParameters(params);
  const t = process.hrtime.bigint();
  let bytes = 0;
  for (let o = 0; o < data.length; o += PIECE) bytes += c.compress(data.subarray(o, o + PIECE)).length;
  return { seconds: Number(process.hrtime.bigint() - t) / 1e9, bytes };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const data = readFileSync(file);
console.log(
  `${file}: ${(data.length / 1e6).toFixed(1)} MB in ${Math.ceil(data.length / PIECE)} pieces of 1 MiB, ${rounds} rounds`,
);
pass(data, { compressionLevel: 3 });
const times = new Map<string, number[]>();
const sizes = new Map<string, number>();
for (let r = 0; r < rounds; r++) {
  for (const [name, params] of sets) {
    const { seconds, bytes } = pass(data, params);
    times.set(name, [...(times.get(name) ?? []), seconds]);
    sizes.set(name, bytes);
  }
}
const base = sets[0]?.[0] ?? '';
const baseTime = median(times.get(base) ?? []);
const baseBytes = sizes.get(base) ?? 1;
for (const [name] of sets) {
  const t = median(times.get(name) ?? []);
  const b = sizes.get(name) ?? 0;
  console.log(
    `${name.padEnd(26)} ${t.toFixed(2)} s (${(t / baseTime).toFixed(2)}×)  ${(data.length / 1e6 / t).toFixed(0)} MB/s  ${(b / 1e6).toFixed(1)} MB (${(b / baseBytes).toFixed(3)}×)`,
  );
}
