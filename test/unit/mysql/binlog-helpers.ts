/** Shared helpers of the binlog decoder tests. */
import { existsSync } from 'node:fs';
import { readBinlogFile } from '../../../drivers/mysql/binlog/index.js';
import type { BinlogEvent, RowsEvent, TableHints } from '../../../drivers/mysql/binlog/index.js';

/**
 * The public binlog fixtures (see ../shared/fixtures/README.md), beside the project root (or,
 * for a git worktree under a sibling folder, one level further up); absent in a plain clone.
 */
const CANDIDATES = ['../shared/fixtures/mysql-binlogs/', '../../shared/fixtures/mysql-binlogs/'];
export const PUBLIC_BINLOGS = CANDIDATES.find((p) => existsSync(p)) ?? CANDIDATES[0]!;
export const havePublicBinlogs = existsSync(PUBLIC_BINLOGS);

export async function readAll(
  path: string,
  hints?: (database: string, table: string) => TableHints | undefined,
): Promise<BinlogEvent[]> {
  const out: BinlogEvent[] = [];
  for await (const ev of readBinlogFile(path, hints ? { hints } : undefined)) out.push(ev);
  return out;
}

export function rowsEvents(events: readonly BinlogEvent[], table?: string): RowsEvent[] {
  return events.filter((e): e is RowsEvent => e.kind === 'rows' && (table === undefined || e.table.table === table));
}
