import type { Finding } from './finding.js';
import { SourceError } from '../util/errors.js';
import type { Logger } from '../util/log.js';

/** Logs warnings; refuses with the first error's sentence (all errors are logged first). */
export function refuseOnErrors(findings: readonly Finding[], log: Logger): void {
  for (const f of findings) if (f.severity === 'warning') log.warn(`preflight.${f.check}`, f.message);
  const errors = findings.filter((f) => f.severity === 'error');
  if (errors.length === 0) return;
  for (const f of errors.slice(1))
    log.error(`preflight.${f.check}`, f.fix ? `${f.message} ${f.fix}` : f.message);
  const first = errors[0]!;
  throw new SourceError(
    first.fix && !first.message.includes(first.fix) ? `${first.message} ${first.fix}` : first.message,
  );
}
