import { NotBuiltError, UsageError } from '../util/errors.js';
import { redactUrl } from '../util/redact.js';
import type { DriverModule } from './driver-module.js';

/** Drivers are loaded lazily so that a PostgreSQL user never loads the MongoDB client. */
const loaders: Record<string, () => Promise<DriverModule>> = {
  postgres: async () => (await import('../../drivers/postgres/index.js')).driver,
  postgresql: async () => (await import('../../drivers/postgres/index.js')).driver,
};

/** Databases on the roadmap: they get an honest "not built yet", not an "unknown scheme". */
const planned: Record<string, string> = {
  mysql: 'MySQL/MariaDB',
  mariadb: 'MySQL/MariaDB',
  mongodb: 'MongoDB',
  'mongodb+srv': 'MongoDB',
};

export const knownSchemes = (): string[] => Object.keys(loaders);

export function schemeOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (!m?.[1])
    throw new UsageError(
      `"${redactUrl(url)}" is not a database URL; expected one like postgres://user@host:5432/db.`,
    );
  return m[1].toLowerCase();
}

export async function driverFor(url: string): Promise<DriverModule> {
  const scheme = schemeOf(url);
  const load = loaders[scheme];
  const later = planned[scheme];
  if (!load && later)
    throw new NotBuiltError(`The ${later} driver is not built yet; this version backs up PostgreSQL only.`);
  if (!load) {
    throw new UsageError(
      `Unknown database URL scheme "${scheme}:"; supported schemes are ${knownSchemes()
        .map((s) => `${s}:`)
        .join(', ')}.`,
    );
  }
  return load();
}

export async function driverByKind(kind: string): Promise<DriverModule> {
  const load = loaders[kind];
  if (!load) throw new UsageError(`This build has no driver "${kind}".`);
  return load();
}
