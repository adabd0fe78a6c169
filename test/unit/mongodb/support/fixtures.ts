/** The public MongoDB fixtures (../shared/fixtures/README.md), beside the project root or one level up. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { splitDocuments } from '../../../../drivers/mongodb/internal/bson-raw.js';

const CANDIDATES = ['../shared/fixtures/mongodb/', '../../shared/fixtures/mongodb/'];
export const MONGO_FIXTURES = CANDIDATES.find((p) => existsSync(p)) ?? CANDIDATES[0]!;
export const haveMongoFixtures = existsSync(MONGO_FIXTURES);

export function fixtureBytes(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(MONGO_FIXTURES, name)));
}

/** The documents of a .bson fixture, as slices of its bytes. */
export function fixtureDocuments(name: string): Uint8Array[] {
  return [...splitDocuments(fixtureBytes(name))];
}

export function fixtureText(name: string): string {
  return readFileSync(join(MONGO_FIXTURES, name), 'utf8');
}
