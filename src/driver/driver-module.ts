import type { SourceDriver, Position } from './source-driver.js';
import type { TargetDriver } from './target-driver.js';

export interface SourceOptions {
  /** Name of this source inside the repository; drivers use it for slot/publication names. */
  readonly name: string;
}

/** What every `drivers/<db>/index.ts` exports as `driver`. */
export interface DriverModule {
  /** Short id recorded in manifests, e.g. `postgres`. */
  readonly kind: string;
  /** URL schemes this driver accepts, e.g. `['postgres', 'postgresql']`. */
  readonly schemes: readonly string[];
  /** Version of the formats this driver writes; a reader refuses newer majors. */
  readonly formatVersion: number;
  /** Capabilities are declared, not guessed. */
  readonly capabilities: {
    readonly snapshot: boolean;
    readonly changeLog: boolean;
    readonly restore: boolean;
  };
  comparePositions(a: Position, b: Position): number;
  openSource(url: string, opts: SourceOptions): Promise<SourceDriver>;
  openTarget(url: string): Promise<TargetDriver>;
}
