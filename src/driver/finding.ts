/** One result of a preflight check: what was found, and what to do about it. */
export interface Finding {
  /** Stable identifier of the check, e.g. `pg.wal_level`. */
  readonly check: string;
  /** `error` blocks the operation that needs it; `warning` is reported and the operation goes on. */
  readonly severity: 'ok' | 'info' | 'warning' | 'error';
  /** One sentence: what was found and what was expected, e.g. `wal_level is "replica"; ...`. */
  readonly message: string;
  /** What to do about it, when there is something to do. */
  readonly fix?: string;
  /** The object it is about (table, setting, role), if any. */
  readonly subject?: string;
}

export type Need = 'snapshot' | 'stream' | 'restore';
