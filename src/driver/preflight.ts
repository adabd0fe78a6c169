/**
 * What the core does with a driver's preflight findings: merge the results of several needs
 * (doctor), and refuse an operation on errors (snapshot, stream and restore jobs).
 */
import type { Finding, Severity } from './finding.js';
import { SourceError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

const RANK: Record<Severity, number> = { ok: 0, info: 1, warning: 2, error: 3 };

/** Orders severities, the strictest last. */
export function severityRank(s: Severity): number {
  return RANK[s];
}

/** The finding as one line a user reads: `<message> <fix>`. */
export function findingText(f: Finding): string {
  return f.fix ? `${f.message} ${f.fix}` : f.message;
}

/**
 * One finding per `id` + `subject` across several preflights (one per need): where two report
 * the same one, the stricter severity wins (the earlier one on a tie), in first-seen order.
 */
export function mergeFindings(lists: readonly (readonly Finding[])[]): Finding[] {
  const merged = new Map<string, Finding>();
  for (const list of lists) {
    for (const f of list) {
      const key = `${f.id}\u0000${f.subject ?? ''}`;
      const seen = merged.get(key);
      if (!seen || RANK[f.severity] > RANK[seen.severity]) merged.set(key, f);
    }
  }
  return [...merged.values()];
}

/** Logs warnings; refuses with the first error as `<message> <fix>` (the other errors are logged first). */
export function refuseOnErrors(findings: readonly Finding[], log: Logger): void {
  for (const f of findings) if (f.severity === 'warning') log.warn(`preflight.${f.id}`, findingText(f));
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length === 0) return;
  for (const f of errors.slice(1)) log.error(`preflight.${f.id}`, findingText(f));
  throw new SourceError(findingText(errors[0]!));
}
