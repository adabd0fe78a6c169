/**
 * A counting budget (chunks or bytes) that writers wait on: this is what bounds memory, per stream and
 * per repository, when producers are faster than compression or upload.
 */
export class Budget {
  private used = 0;
  private readonly waiters: { amount: number; resolve: () => void }[] = [];

  constructor(private readonly capacity: number) {}

  /** Waits until `amount` fits. An amount larger than the capacity is admitted alone, so it cannot deadlock. */
  async acquire(amount: number): Promise<void> {
    if (this.waiters.length === 0 && this.fits(amount)) {
      this.used += amount;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push({ amount, resolve }));
  }

  release(amount: number): void {
    this.used -= amount;
    // FIFO: a large request is not starved by a stream of small ones.
    while (this.waiters.length > 0) {
      const next = this.waiters[0] as { amount: number; resolve: () => void };
      if (!this.fits(next.amount)) break;
      this.waiters.shift();
      this.used += next.amount;
      next.resolve();
    }
  }

  private fits(amount: number): boolean {
    return this.used === 0 || this.used + amount <= this.capacity;
  }
}

/** Runs `fn` over `items` with at most `limit` at once; rejects with the first error after all settle. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.e;
}
