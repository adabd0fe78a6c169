/**
 * The repository `copy --to` writes to: its own password (CRM_BACKUP_TO_PASSWORD or
 * --to-password-file) and, for S3, its own settings when CRM_BACKUP_TO_AWS_* are set (another
 * account, region or endpoint than the source's); what is not set is shared with the source.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { openRepository } from '../repository/index.js';
import type { Repository } from '../repository/repository-api.js';
import { CountingBackend } from '../storage/counting-backend.js';
import { openStorage } from '../storage/open-storage.js';
import type { Env } from '../storage/s3-location.js';
import { RepositoryError } from '../util/errors.js';
import { readPassword, type PasswordSource } from './context.js';

export const TO_PASSWORD: PasswordSource = {
  env: 'CRM_BACKUP_TO_PASSWORD',
  flag: '--to-password-file',
  what: 'password for the destination repository (--to)',
};

/** Set together: one of them given for the destination, none of the source's is used. */
const GROUPS = [
  ['ACCESS_KEY_ID', 'SECRET_ACCESS_KEY', 'SESSION_TOKEN'],
  ['REGION', 'DEFAULT_REGION'],
  ['ENDPOINT_URL', 'ENDPOINT_URL_S3', 'S3_FORCE_PATH_STYLE'],
] as const;
export const TO_PREFIX = 'CRM_BACKUP_TO_';

/** The AWS_* variables the destination's S3 client reads: CRM_BACKUP_TO_AWS_* over the usual ones. */
export function destinationEnv(env: Env): Env {
  const out: Record<string, string | undefined> = { ...env };
  for (const group of GROUPS) {
    if (!group.some((v) => env[`${TO_PREFIX}AWS_${v}`])) continue;
    for (const v of group) out[`AWS_${v}`] = env[`${TO_PREFIX}AWS_${v}`] || undefined;
  }
  return out;
}

/** `$XDG_CACHE_HOME/crm-backup/copy`, or `~/.cache/crm-backup/copy`. */
export function copyCacheDir(env: Env = process.env): string {
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'crm-backup', 'copy');
}

export interface Destination {
  readonly repo: Repository;
  readonly storage: CountingBackend;
}

export async function openDestination(location: string, passwordFile: string | undefined): Promise<Destination> {
  const password = await readPassword({ passwordFile }, TO_PASSWORD);
  const storage = new CountingBackend(await openStorage(location, { s3: { env: destinationEnv(process.env) } }));
  // Not created here: a mistyped --to must fail, not start a repository nobody will look at.
  if (!(await storage.stat('config')))
    throw new RepositoryError(
      `The destination ${storage.location} is not a crm-backup repository; create it with its own password first (CRM_BACKUP_PASSWORD=… crm-backup init --repo ${storage.location}), then run copy again.`,
    );
  return { repo: await openRepository(storage, password), storage };
}
