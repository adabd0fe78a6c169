/** A drill record in one line, as `list` and `check` show it. */
import type { DrillRecord } from '../repository/repository-api.js';
import { formatDuration } from '../util/log.js';

export function describeDrill(d: DrillRecord | null | undefined): string {
  if (!d) return 'none yet (crm-backup drill --target URL restores and checks the backup)';
  const what = `snapshot ${d.snapshot.slice(0, 12)}${d.at ? ` and the log up to ${d.at}` : ''}`;
  const found =
    d.verdict === 'passed'
      ? `passed: ${d.tablesCompared} of ${d.tables} tables match the snapshot's checksums, restore took ${formatDuration(Math.round(d.seconds * 1000))}`
      : `FAILED: ${d.failure ?? 'no reason recorded'}`;
  return `${d.startedAt}, ${what}, ${found}`;
}
