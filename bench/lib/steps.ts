/**
 * Runs the benchmark's steps one after another; a failing step is reported in one line
 * ("stream: FAILED — <message>") and the run goes on with the measurements that do not
 * depend on it, so a half-finished driver still yields the figures it can.
 */
export interface StepRecord {
  readonly name: string;
  readonly ok: boolean;
  readonly seconds: number;
  readonly error?: string;
  /** Not run because a step it needs failed. */
  readonly skipped?: boolean;
}

export const say = (text: string): void => void process.stdout.write(`${text}\n`);

export class Steps {
  readonly records: StepRecord[] = [];

  async run<T>(name: string, what: string, fn: () => Promise<T>): Promise<T | undefined> {
    say(`\n== ${name}: ${what}`);
    const started = performance.now();
    try {
      const value = await fn();
      const seconds = (performance.now() - started) / 1000;
      this.records.push({ name, ok: true, seconds });
      say(`   ${name}: done in ${seconds.toFixed(1)} s`);
      return value;
    } catch (err) {
      const seconds = (performance.now() - started) / 1000;
      const error = err instanceof Error ? err.message : String(err);
      this.records.push({ name, ok: false, seconds, error });
      say(`   ${name}: FAILED — ${error}`);
      return undefined;
    }
  }

  /** Records a step that could not run because an earlier one failed. */
  skip(name: string, because: string): void {
    this.records.push({ name, ok: false, seconds: 0, error: because, skipped: true });
    say(`\n== ${name}: SKIPPED — ${because}`);
  }

  get failed(): StepRecord[] {
    return this.records.filter((r) => !r.ok);
  }
}
