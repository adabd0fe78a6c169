/**
 * What an interrupted restore leaves in its target, said in the error the user sees: a
 * half-loaded database looks like a database, and must not be taken for the restored one.
 */
import { AbortError } from '../util/errors.js';

/** What restore-job.ts has done to the target so far; it marks each step as it starts or ends. */
export class TargetProgress {
  /** `--clean` dropped the target's existing objects. */
  cleaned = false;
  schemaStarted = false;
  schemaCreated = false;
  /** Parts still to load per table (a large table may be loaded in parts `name#n`). */
  readonly #partsLeft = new Map<string, number>();
  #tablesLoaded = 0;
  indexesBuilt = false;
  /** Commit time of the last transaction replayed. */
  replayedUntil: string | undefined;

  /** The tables to load, one entry per part. */
  planLoads(tables: readonly string[]): void {
    for (const t of tables) this.#partsLeft.set(t, (this.#partsLeft.get(t) ?? 0) + 1);
  }

  partLoaded(table: string): void {
    const left = (this.#partsLeft.get(table) ?? 1) - 1;
    this.#partsLeft.set(table, left);
    if (left === 0) this.#tablesLoaded++;
  }

  /** True while nothing has been written to the target. */
  get untouched(): boolean {
    return !this.cleaned && !this.schemaStarted;
  }

  /** The state of the target, e.g. `schema created, 3 of 7 tables loaded, no indexes or constraints yet`. */
  describe(): string {
    if (!this.schemaStarted) return 'its existing objects were dropped by --clean, nothing restored yet';
    if (!this.schemaCreated) return 'schema partly created, no table loaded';
    const total = this.#partsLeft.size;
    const loaded = this.#tablesLoaded;
    const parts = ['schema created'];
    if (loaded < total) {
      parts.push(`${loaded} of ${total} tables loaded`, 'no indexes or constraints yet');
      return parts.join(', ');
    }
    parts.push(`all ${total} tables loaded`);
    if (!this.indexesBuilt) parts.push('indexes and constraints not all built');
    else if (this.replayedUntil === undefined) parts.push('indexes and constraints built', 'no log replayed');
    else parts.push('indexes and constraints built', `log replayed up to ${this.replayedUntil}`);
    return parts.join(', ');
  }
}

/** The AbortError of a restore interrupted in the state `progress` describes. */
export function interruptedRestore(progress: TargetProgress, cause: unknown): AbortError {
  if (progress.untouched)
    return new AbortError('Restore interrupted before anything was written to the target database.', {
      cause,
    });
  return new AbortError(
    `Restore interrupted: the target database holds a partial restore that must not be used (${progress.describe()}); run the same restore command again with --clean to replace it, or drop and recreate the target database.`,
    { cause },
  );
}
