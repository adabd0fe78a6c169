export type Severity = 'ok' | 'info' | 'warning' | 'error';

/**
 * One result of a preflight check: what was found, and what to do about it. The core prints the
 * message and the fix itself (doctor on two lines, a refusal as `<message> <fix>`), so neither
 * repeats the other.
 */
export interface Finding {
  /**
   * Stable, dotted identifier of the check, e.g. `pg.wal_level`: the same check reports the same
   * id for every need and every outcome (ok or not), so results can be merged and looked up.
   */
  readonly id: string;
  /** `error` blocks the operation that needs it; `warning` is reported and the operation goes on. */
  readonly severity: Severity;
  /**
   * One sentence: what was found and what was expected, e.g.
   * `wal_level is "replica"; logical decoding needs "logical".` No remedy: that is `fix`.
   */
  readonly message: string;
  /** What to do about it, when there is something to do: one sentence or one statement. */
  readonly fix?: string;
  /** The object it is about (table, setting, role), if any; with `id`, it identifies the finding. */
  readonly subject?: string;
}

export type Need = 'snapshot' | 'stream' | 'restore';
