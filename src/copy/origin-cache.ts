/**
 * What each manifest of a repository is, remembered across runs of copy: its origin and its
 * source tag, by `kind/id`. Manifests are immutable and named by a keyed hash of their content,
 * so an entry stays true as long as the manifest exists; a run over an unchanged repository then
 * lists keys and reads no manifest. One file per repository id, carrying a keyed digest with the
 * repository's id key: an edited file, or one written for another repository, is ignored (the
 * manifests are read again), so correctness never depends on the cache, only the cost of a run.
 * It holds hex ids and hashes only, never a source name or anything else a manifest says.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { repositoryDigest, type Repository } from '../repository/index.js';

/** Origin key (`repository:id`) and source tag of one manifest. */
export interface KnownManifest {
  readonly origin: string;
  readonly source: string;
}

const FILE_VERSION = 1;

interface CacheFile {
  readonly version: number;
  readonly repository: string;
  readonly entries: Record<string, KnownManifest>;
  readonly digest: string;
}

export class OriginCache {
  private changed = false;

  private constructor(
    private readonly repo: Repository,
    private readonly file: string | undefined,
    readonly entries: Map<string, KnownManifest>,
  ) {}

  /** The cache of `repo` under `dir` (none: a cache that lives for this run only). */
  static async load(repo: Repository, dir: string | undefined): Promise<OriginCache> {
    const file = dir === undefined ? undefined : join(dir, `${repo.id}.json`);
    const entries = new Map<string, KnownManifest>();
    if (file) {
      try {
        const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<CacheFile>;
        if (
          parsed.version === FILE_VERSION &&
          parsed.repository === repo.id &&
          parsed.entries &&
          parsed.digest === digest(repo, parsed.entries)
        ) {
          for (const [k, v] of Object.entries(parsed.entries)) entries.set(k, v);
        }
      } catch {
        // missing, unreadable or not JSON: start empty, the manifests are read instead
      }
    }
    return new OriginCache(repo, file, entries);
  }

  get(key: string): KnownManifest | undefined {
    return this.entries.get(key);
  }

  set(key: string, value: KnownManifest): void {
    const old = this.entries.get(key);
    if (old?.origin === value.origin && old.source === value.source) return;
    this.entries.set(key, value);
    this.changed = true;
  }

  /** Forgets the entries `keep` rejects: manifests a listing showed are no longer there. */
  retain(keep: (key: string) => boolean): void {
    for (const key of this.entries.keys()) {
      if (keep(key)) continue;
      this.entries.delete(key);
      this.changed = true;
    }
  }

  /** Writes the file if anything changed: a temporary file renamed over, readable by the owner only. */
  async save(): Promise<void> {
    if (!this.file || !this.changed) return;
    const entries = Object.fromEntries([...this.entries].sort(([a], [b]) => a.localeCompare(b)));
    const body: CacheFile = {
      version: FILE_VERSION,
      repository: this.repo.id,
      entries,
      digest: digest(this.repo, entries),
    };
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${randomBytes(6).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
    this.changed = false;
  }
}

function digest(repo: Repository, entries: Record<string, KnownManifest>): string {
  return repositoryDigest(repo, JSON.stringify([FILE_VERSION, repo.id, entries]));
}
