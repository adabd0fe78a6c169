/**
 * Secrets are a redacting type: they print as `***` wherever they end up
 * (template strings, JSON, util.inspect), and URLs are shown without password.
 */
import { inspect } from 'node:util';

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

/** `postgres://app:pw@db:5432/crm?sslpassword=x` -> `postgres://app@db:5432/crm` (no password, no query). */
export function redactUrl(raw: string): string {
  try {
    const u = new URL(raw);
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    // Not a URL we can parse: show only the scheme, if any, so nothing secret leaks.
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1];
    return scheme ? `${scheme}://…` : '(unparseable location)';
  }
}

/** Removes every occurrence of the given secret strings from a text (for messages from libraries). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 3) out = out.split(s).join('***');
  return out;
}
