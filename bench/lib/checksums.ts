/** Judging a restore: per-table checksums of the source against those of the restored copy. */
import type { TableChecksum } from '../../scripts/crm/index.js';

export interface ChecksumVerdict {
  readonly equal: boolean;
  readonly tables: number;
  /** Tables that differ or are missing on one side, with row counts, for the report. */
  readonly differing: readonly string[];
}

export function compareChecksums(
  expected: Record<string, TableChecksum>,
  got: Record<string, TableChecksum>,
): ChecksumVerdict {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(got)])].sort();
  const differing = names
    .filter((t) => expected[t]?.md5 !== got[t]?.md5 || expected[t]?.rows !== got[t]?.rows)
    .map((t) => `${t} (${expected[t]?.rows ?? 'missing'} vs ${got[t]?.rows ?? 'missing'} rows)`);
  return { equal: differing.length === 0, tables: names.length, differing };
}

/** The verdict as the phases print it: `equal (9 tables)` or `DIFFERENT — <table> (<rows> vs <rows> rows), …`. */
export const verdictText = (v: ChecksumVerdict): string => (v.equal ? `equal (${v.tables} tables)` : `DIFFERENT — ${v.differing.join(', ')}`);
