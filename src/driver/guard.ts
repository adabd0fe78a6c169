/**
 * One wrapper enforces what a driver declares, so that no command has to: a capability the driver
 * lacks is refused with one sentence before anything happens (not a crash deep inside a job), and
 * a manifest written in a newer format than the installed driver reads is refused, naming both
 * versions.
 */
import { UsageError } from '../util/errors.js';
import type { Capability, DriverModule } from './driver-module.js';
import type { Finding, Need } from './finding.js';
import type {
  ChangeLog,
  Position,
  PreflightOptions,
  SnapshotOptions,
  SnapshotReader,
  SourceDriver,
  StreamOptions,
} from './source-driver.js';

const WHAT: Record<Capability, string> = {
  snapshot: 'take snapshots',
  changeLog: 'stream a change log',
  restore: 'restore',
};

const guarded = new WeakSet<DriverModule>();

/** `module` with its capabilities enforced; a module already guarded is returned as it is. */
export function guardDriver(module: DriverModule, label: string = module.kind): DriverModule {
  if (guarded.has(module)) return module;
  const g: DriverModule = {
    ...module,
    openSource: async (url, opts) => {
      const source = await module.openSource(url, opts);
      return new GuardedSource(source, module, label);
    },
    openTarget: async (url) => {
      requireCapability(module, 'restore', label);
      return module.openTarget(url);
    },
  };
  guarded.add(g);
  return g;
}

export function requireCapability(module: DriverModule, cap: Capability, label: string = module.kind): void {
  if (!module.capabilities[cap])
    throw new UsageError(`The ${label} driver of this build cannot ${WHAT[cap]}.`);
}

/**
 * Refuses a snapshot or segment written in a driver format newer than `module` reads: its payloads
 * or streams could mean something this version would restore wrongly.
 */
export function assertReadable(
  module: DriverModule,
  manifest: { readonly driver: string; readonly driverFormatVersion: number },
  what: string,
): void {
  if (manifest.driver !== module.kind) {
    throw new UsageError(`${what} was written by the ${manifest.driver} driver, not ${module.kind}.`);
  }
  if (manifest.driverFormatVersion > module.formatVersion) {
    throw new UsageError(
      `${what} was written in ${module.kind} driver format ${manifest.driverFormatVersion}; this crm-backup reads format ${module.formatVersion} and older (upgrade crm-backup to restore it).`,
    );
  }
}

class GuardedSource implements SourceDriver {
  readonly kind: string;
  constructor(
    private readonly inner: SourceDriver,
    private readonly module: DriverModule,
    private readonly label: string,
  ) {
    this.kind = inner.kind;
  }

  preflight(need: Need, opts?: PreflightOptions): Promise<Finding[]> {
    requireCapability(this.module, need === 'stream' ? 'changeLog' : need, this.label);
    return this.inner.preflight(need, opts);
  }

  openSnapshot(opts: SnapshotOptions): Promise<SnapshotReader> {
    requireCapability(this.module, 'snapshot', this.label);
    return this.inner.openSnapshot(opts);
  }

  openChangeLog(from: Position | undefined, opts: StreamOptions): Promise<ChangeLog> {
    requireCapability(this.module, 'changeLog', this.label);
    return this.inner.openChangeLog(from, opts);
  }

  get dropChangeLog(): (() => Promise<readonly string[] | void>) | undefined {
    const drop = this.inner.dropChangeLog?.bind(this.inner);
    if (!drop) return undefined;
    return () => {
      requireCapability(this.module, 'changeLog', this.label);
      return drop();
    };
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
