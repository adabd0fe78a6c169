/**
 * An in-memory StorageBackend for repository unit tests, with switches to make operations fail
 * (lock refresh failure, crash simulation) and to tamper with stored objects.
 */
import { StorageError } from '../../../src/util/errors.js';
import type { ObjectInfo, PutOptions, StorageBackend } from '../../../src/storage/storage-backend.js';

export class MemoryBackend implements StorageBackend {
  readonly objects = new Map<string, { data: Uint8Array; modified: Date }>();
  /** When set, put/delete of keys for which it returns true throw a StorageError. */
  failWrites: ((key: string) => boolean) | undefined;
  puts = 0;

  constructor(readonly location = 'memory://test') {}

  async put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<void> {
    if (this.failWrites?.(key)) throw new StorageError(`injected failure writing ${key}`, { key, permanent: false });
    let data: Uint8Array;
    if (body instanceof Uint8Array) data = Uint8Array.from(body);
    else {
      const parts: Uint8Array[] = [];
      for await (const p of body) parts.push(p);
      data = Buffer.concat(parts);
    }
    if (opts.ifAbsent && this.objects.has(key)) {
      throw new StorageError(`${key} exists`, { key, permanent: true, reason: 'exists' });
    }
    this.puts++;
    this.objects.set(key, { data, modified: new Date() });
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<AsyncIterable<Uint8Array>> {
    const o = this.objects.get(key);
    if (!o) throw new StorageError(`${key} not found`, { key, permanent: true, reason: 'not-found' });
    const data = range ? o.data.subarray(range.offset, range.offset + range.length) : o.data;
    return (async function* () {
      // Split in odd pieces so readers cannot assume one buffer per object.
      for (let i = 0; i < data.length; i += 100_003) yield data.slice(i, i + 100_003);
    })();
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for (const [key, o] of [...this.objects.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      if (key.startsWith(prefix)) yield { key, size: o.data.length, modified: o.modified };
    }
  }

  async delete(key: string): Promise<void> {
    if (this.failWrites?.(key)) throw new StorageError(`injected failure deleting ${key}`, { key, permanent: false });
    this.objects.delete(key);
  }

  async stat(key: string): Promise<{ size: number; modified: Date } | undefined> {
    const o = this.objects.get(key);
    return o ? { size: o.data.length, modified: o.modified } : undefined;
  }

  keys(prefix: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  bytes(prefix = ''): number {
    let n = 0;
    for (const [k, o] of this.objects) if (k.startsWith(prefix)) n += o.data.length;
    return n;
  }
}
