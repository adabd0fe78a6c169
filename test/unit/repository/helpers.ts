/** Shared helpers for repository tests: cheap keys, deterministic data generators, collectors. */
import { createHash } from 'node:crypto';
import { Secret } from '../../../src/util/redact.js';
import type { StorageBackend } from '../../../src/storage/storage-backend.js';
import { initRepository, openRepository, type Repository, type RepositoryOptions } from '../../../src/repository/index.js';
import { MemoryBackend } from './memory-backend.js';

/** scrypt N=2^10: fast enough for tests, never for real repositories. */
export const CHEAP = { scrypt: { N: 1024, r: 8, p: 1 } } as const;
export const PASSWORD = new Secret('correct horse battery staple');

export async function newRepo(opts: RepositoryOptions = {}, storage: StorageBackend = new MemoryBackend()): Promise<{ repo: Repository; storage: StorageBackend }> {
  const repo = await initRepository(storage, PASSWORD, { ...CHEAP, workers: 0, ...opts });
  return { repo, storage };
}

export function reopen(storage: StorageBackend, opts: RepositoryOptions = {}): Promise<Repository> {
  return openRepository(storage, PASSWORD, { workers: 0, ...opts });
}

/** Deterministic pseudo-random bytes (xorshift32), fast and reproducible from a seed. */
export function randomBytesSeeded(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  const words = new Uint32Array(out.buffer, 0, n >>> 2);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  for (let i = words.length * 4; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Ken', 'Margaret', 'Linus', 'Radia'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Thompson', 'Hamilton', 'Torvalds', 'Perlman'];
const STAGES = ['lead', 'qualified', 'proposal', 'negotiation', 'won', 'lost'];

/** One COPY-format-looking contacts row; varied enough that zstd does not find it trivial. */
export function crmRow(i: number): string {
  const h = Math.imul(i ^ 0x9e3779b9, 2654435761) >>> 0;
  const f = FIRST[h % 10] as string;
  const l = LAST[(h >>> 4) % 10] as string;
  const day = `2024-${String((h % 12) + 1).padStart(2, '0')}-${String((h >>> 8) % 28 + 1).padStart(2, '0')}`;
  return `${i}\t${f} ${l}\t${f.toLowerCase()}.${l.toLowerCase()}${h % 997}@example.com\t+1-555-${String(h % 10_000).padStart(4, '0')}\t${STAGES[(h >>> 12) % 6]}\t${(h % 1_000_000) / 100}\t${day} ${String(h % 24).padStart(2, '0')}:${String((h >>> 3) % 60).padStart(2, '0')}:00+00\t${h.toString(36)}\n`;
}

/** CRM-like text of about `bytes` bytes starting at row `from`, yielded in ~64 KiB buffers. */
export async function* crmStream(bytes: number, from = 0): AsyncGenerator<Uint8Array> {
  let row = from;
  let sent = 0;
  while (sent < bytes) {
    let s = '';
    while (s.length < 65536) s += crmRow(row++);
    const buf = Buffer.from(s).subarray(0, Math.min(s.length, bytes - sent));
    sent += buf.length;
    yield buf;
  }
}

/** Yields `data` in pieces of the given sizes (cycled), copying so the source is never aliased. */
export async function* pieces(data: Uint8Array, sizes: number[] = [65536]): AsyncGenerator<Uint8Array> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length] as number;
    yield data.slice(off, off + n);
    off += n;
  }
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

export async function sha256Of(it: AsyncIterable<Uint8Array>): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const p of it) {
    h.update(p);
    bytes += p.length;
  }
  return { hash: h.digest('hex'), bytes };
}

/** A LocalBackend in a fresh temp folder, and a function that removes it. */
export async function tempLocal(): Promise<{ storage: StorageBackend; dir: string; cleanup: () => Promise<void> }> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { LocalBackend } = await import('../../../src/storage/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'crmb-repo-test-'));
  return { storage: await LocalBackend.open(join(dir, 'repo')), dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
