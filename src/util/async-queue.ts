/**
 * A bounded push -> pull bridge: a producer awaits `push` (backpressure once `limitBytes` are
 * queued) while a consumer iterates. `end()` finishes the iteration; `fail(err)` makes it throw.
 */
export class ByteQueue implements AsyncIterable<Uint8Array> {
  readonly #items: Uint8Array[] = [];
  #queued = 0;
  #ended = false;
  #error: unknown;
  #wakeConsumer: (() => void) | undefined;
  #wakeProducer: (() => void) | undefined;

  constructor(private readonly limitBytes: number) {}

  async push(item: Uint8Array): Promise<void> {
    if (this.#error !== undefined) throw this.#error;
    this.#items.push(item);
    this.#queued += item.length;
    this.#wakeConsumer?.();
    while (this.#queued > this.limitBytes && this.#error === undefined) {
      await new Promise<void>((resolve) => (this.#wakeProducer = resolve));
    }
    if (this.#error !== undefined) throw this.#error;
  }

  end(): void {
    this.#ended = true;
    this.#wakeConsumer?.();
  }

  /** Stops both sides: the consumer throws `err`, a waiting producer too. */
  fail(err: unknown): void {
    this.#error = err;
    this.#wakeConsumer?.();
    this.#wakeProducer?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      const item = this.#items.shift();
      if (item) {
        this.#queued -= item.length;
        if (this.#queued <= this.limitBytes) this.#wakeProducer?.();
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
      this.#wakeConsumer = undefined;
    }
  }
}
