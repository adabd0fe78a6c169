/**
 * The one list of database drivers. Adding a database is a folder under `drivers/` and one entry
 * here: its kind (recorded in manifests), the URL schemes it answers to, and how to load it.
 * Nothing else in `src/` names a database. Drivers are loaded lazily so that a PostgreSQL user
 * never loads the MongoDB client; every module handed out is wrapped by `guardDriver`, which
 * enforces the capabilities the driver declares. Each entry also loads the driver's small
 * `url.ts`, planned drivers included, so that their URLs are read (default source name, redacted
 * form) by the database's own rules and never by the core.
 */
import { NotBuiltError, UsageError } from '../util/errors.js';
import { redactUrl } from '../util/redact.js';
import type { DriverModule } from './driver-module.js';
import { guardDriver } from './guard.js';
import type { UrlDescription, UrlSyntax } from './url-syntax.js';

export interface DriverEntry {
  /** Recorded in every manifest the driver writes; never renamed. */
  readonly kind: string;
  /** How users call the database, in messages. */
  readonly label: string;
  /** URL schemes this driver answers to, lower case, without `:`. */
  readonly schemes: readonly string[];
  /** Absent while the driver is planned but not built: its URLs get an honest "not built yet". */
  readonly load?: () => Promise<DriverModule>;
  /** How the database's URLs read; dependency-free, present for planned drivers too. */
  readonly url: () => Promise<UrlSyntax>;
}

const DRIVERS: readonly DriverEntry[] = [
  {
    kind: 'postgres',
    label: 'PostgreSQL',
    schemes: ['postgres', 'postgresql'],
    load: async () => (await import('../../drivers/postgres/index.js')).driver,
    url: async () => (await import('../../drivers/postgres/url.js')).urlSyntax,
  },
  {
    kind: 'mysql',
    label: 'MySQL/MariaDB',
    schemes: ['mysql', 'mariadb'],
    load: async () => (await import('../../drivers/mysql/index.js')).driver,
    url: async () => (await import('../../drivers/mysql/url.js')).urlSyntax,
  },
  {
    kind: 'mongodb',
    label: 'MongoDB',
    schemes: ['mongodb', 'mongodb+srv'],
    load: async () => (await import('../../drivers/mongodb/index.js')).driver,
    url: async () => (await import('../../drivers/mongodb/url.js')).urlSyntax,
  },
];

export function driverEntries(): readonly DriverEntry[] {
  return DRIVERS;
}

/** Schemes of the drivers this build has, for messages. */
export const knownSchemes = (): string[] => DRIVERS.filter((d) => d.load).flatMap((d) => d.schemes);

export function schemeOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!m?.[1])
    throw new UsageError(
      `"${redactUrl(url)}" is not a database URL; expected one like postgres://user@host:5432/db.`,
    );
  return m[1].toLowerCase();
}

/** The entry whose schemes include the URL's; refuses an unknown scheme with the known ones. */
export function entryForUrl(url: string): DriverEntry {
  const scheme = schemeOf(url);
  const entry = DRIVERS.find((d) => d.schemes.includes(scheme));
  if (!entry) {
    throw new UsageError(
      `Unknown database URL scheme "${scheme}:"; supported schemes are ${knownSchemes()
        .map((s) => `${s}:`)
        .join(', ')}.`,
    );
  }
  return entry;
}

/**
 * A database URL's default source name and redacted form, read by its driver's rules (built or
 * planned); refuses an unknown scheme, or a URL the driver cannot read, with one sentence.
 */
export async function describeSourceUrl(url: string): Promise<UrlDescription> {
  return (await entryForUrl(url).url()).describeUrl(url);
}

export async function driverFor(url: string): Promise<DriverModule> {
  return loadEntry(entryForUrl(url));
}

/** The driver that wrote a manifest (`manifest.driver`). */
export async function driverByKind(kind: string): Promise<DriverModule> {
  const entry = DRIVERS.find((d) => d.kind === kind);
  if (!entry) throw new UsageError(`This build has no driver "${kind}".`);
  return loadEntry(entry);
}

async function loadEntry(entry: DriverEntry): Promise<DriverModule> {
  if (!entry.load) {
    const built = DRIVERS.filter((d) => d.load).map((d) => d.label);
    throw new NotBuiltError(
      `The ${entry.label} driver is not built yet; this version backs up ${built.join(', ')} only.`,
    );
  }
  return guardDriver(await entry.load(), entry.label);
}

/** How the core finds drivers: `registry`, unless a test brings its own (a fake driver). */
export interface Drivers {
  /** The driver that wrote a manifest (`manifest.driver`). */
  byKind(kind: string): Promise<DriverModule>;
  /** The driver for a source or target URL. */
  forUrl(url: string): Promise<DriverModule>;
}

export const registry: Drivers = { byKind: driverByKind, forUrl: driverFor };
