import type { Command } from 'commander';
import { driverByKind } from '../driver/registry.js';
import type { Repository, SnapshotManifest } from '../repository/repository-api.js';
import { restoreWindows } from '../restore/windows.js';
import { formatBytes } from '../util/log.js';
import { formatMicros } from '../util/time.js';
import { openRepo } from './context.js';
import { action } from './run-command.js';

interface ListOpts {
  name?: string;
}

export interface SourceListing {
  readonly source: string;
  readonly snapshots: ReadonlyArray<{
    id: string;
    consistentAt: string;
    tags: readonly string[];
    tables: number;
    rows: number;
    bytes: number;
  }>;
  readonly segments: number;
  readonly logBytes: number;
  readonly restorable: ReadonlyArray<{ from: string; to: string }>;
}

export async function listSources(repo: Repository, name?: string): Promise<SourceListing[]> {
  const out: SourceListing[] = [];
  const sources = name ? [name] : await repo.sources();
  for (const source of sources) {
    const snapshots = await repo.listSnapshots({ source });
    const segments = await repo.listSegments(source);
    const kind = snapshots[0]?.driver ?? segments[0]?.driver;
    const compare = kind
      ? (await driverByKind(kind)).comparePositions
      : (a: string, b: string) => a.localeCompare(b);
    out.push({
      source,
      snapshots: [...snapshots]
        .sort((a, b) => a.consistentAt.localeCompare(b.consistentAt))
        .map((s: SnapshotManifest) => ({
          id: s.id,
          consistentAt: s.consistentAt,
          tags: s.tags,
          tables: new Set(s.streams.map((t) => t.table)).size,
          rows: s.streams.reduce((n, t) => n + (t.rows ?? 0), 0),
          bytes: s.streams.reduce((n, t) => n + t.data.bytes, 0),
        })),
      segments: segments.length,
      logBytes: segments.reduce((n, s) => n + s.data.bytes, 0),
      restorable: restoreWindows(snapshots, segments, compare).map((w) => ({
        from: formatMicros(w.fromMicros),
        to: formatMicros(w.toMicros),
      })),
    });
  }
  return out;
}

export function registerList(program: Command): void {
  program
    .command('list')
    .description('List snapshots per source and the time windows that can be restored to.')
    .option('--name <name>', 'only this source')
    .addHelpText('after', '\nExample:\n  crm-backup list --repo /srv/backups/crm --json\n')
    .action(
      action<ListOpts>(async (opts, ctx) => {
        const repo = await openRepo(opts);
        try {
          const listing = await listSources(repo, opts.name);
          if (ctx.json) return void ctx.print(JSON.stringify(listing, null, 2));
          if (listing.length === 0) return void ctx.print('The repository holds no backups yet.');
          for (const src of listing) {
            ctx.print(`Source ${src.source}`);
            for (const s of src.snapshots) {
              const tags = s.tags.length ? `  [${s.tags.join(', ')}]` : '';
              ctx.print(
                `  snapshot ${s.id.slice(0, 12)}  ${s.consistentAt}  ${s.tables} tables, ${s.rows} rows, ${formatBytes(s.bytes)}${tags}`,
              );
            }
            ctx.print(`  log: ${src.segments} segments, ${formatBytes(src.logBytes)}`);
            if (src.restorable.length === 0)
              ctx.print('  point-in-time restore: no window (no unbroken log after a snapshot yet)');
            for (const w of src.restorable) ctx.print(`  restorable to any time from ${w.from} to ${w.to}`);
          }
        } finally {
          await repo.close();
        }
      }),
    );
}
