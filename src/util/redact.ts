/**
 * Secrets are a redacting type: they print as `***` wherever they end up
 * (template strings, JSON, util.inspect), and URLs are shown without password.
 */
import { inspect } from 'node:util';
import { schemeOnly, splitUrl } from './url-parts.js';

export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  /** The only way to get at the value; grep for `.reveal()` to audit every use. */
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '***';
  }
  toJSON(): string {
    return '***';
  }
  [inspect.custom](): string {
    return 'Secret(***)';
  }
}

/**
 * `postgres://app:pw@db:5432/crm?sslpassword=x` -> `postgres://app@db:5432/crm`: no password, no
 * query, no fragment. Host lists the WHATWG parser refuses (`mongodb://u:pw@a:27017,b:27017/crm`)
 * keep their hosts; a URL whose password could be mistaken for a host or path (an unencoded `/`,
 * `?` or `#` before an `@`) shows only its scheme.
 */
export function redactUrl(raw: string): string {
  const split = splitUrl(raw);
  if (!split.ok) return schemeOnly(raw);
  const { scheme, user, hosts, path } = split.parts;
  return `${scheme}://${user ? `${user}@` : ''}${hosts}${path}`;
}

/** Removes every occurrence of the given secret strings from a text (for messages from libraries). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}
