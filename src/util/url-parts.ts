/**
 * `scheme://userinfo@hosts/path?query#fragment`, cut into its parts without interpreting them.
 * The WHATWG `URL` parser refuses forms databases accept (a MongoDB seed list `a:27017,b:27017`,
 * several bracketed IPv6 hosts), so each driver reads its hosts and path from these parts, and
 * redaction drops the password with them. Nothing here is decoded.
 *
 * The authority ends at the first `/`, `?` or `#`, and the user information at the authority's
 * last `@` (RFC 3986). An `@` further on makes the URL ambiguous: `postgres://u:12/ab@db/crm` is a
 * password with an unencoded `/`, or host `u`, port 12 and database `ab@db/crm`; read the second
 * way, the password would be printed as a path. Such a URL is refused, never guessed at.
 */

export interface UrlParts {
  /** Lower case, without `://`. */
  readonly scheme: string;
  /** The user name, percent-encoded as written; '' when absent. Never the password. */
  readonly user: string;
  /** `host[:port][,host[:port]…]` as written; IPv6 hosts keep their brackets. */
  readonly hosts: string;
  /** From the `/` after the hosts up to `?` or `#`, as written; '' when absent. */
  readonly path: string;
  /** Between `?` and `#`, as written, without the `?`; '' when absent. */
  readonly query: string;
}

export type UrlSplit =
  | { readonly ok: true; readonly parts: UrlParts }
  /** `problem` ends a sentence and holds nothing of the URL. */
  | { readonly ok: false; readonly problem: string };

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export function splitUrl(raw: string): UrlSplit {
  const m = SCHEME.exec(raw);
  if (!m?.[1]) return { ok: false, problem: 'it does not start with scheme://' };
  const rest = raw.slice(m[0].length);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const tail = end < 0 ? '' : rest.slice(end);
  if (tail.includes('@')) {
    return {
      ok: false,
      problem:
        'an "@" follows the host; percent-encode "@", "/", "?" and "#" in the user name and password (as %40, %2F, %3F and %23)',
    };
  }
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? '' : authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  const beforeHash = tail.split('#', 1)[0] ?? '';
  const q = beforeHash.indexOf('?');
  return {
    ok: true,
    parts: {
      scheme: m[1].toLowerCase(),
      user: colon < 0 ? userinfo : userinfo.slice(0, colon),
      hosts: authority.slice(at + 1),
      path: q < 0 ? beforeHash : beforeHash.slice(0, q),
      query: q < 0 ? '' : beforeHash.slice(q + 1),
    },
  };
}

/** The scheme of `raw` and nothing else, for a location that cannot be read: `mongodb://…`. */
export function schemeOnly(raw: string): string {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1];
  return scheme ? `${scheme}://…` : '(unparseable location)';
}

/**
 * `host`, `host:port`, `[v6]` or `[v6]:port` (one entry of a host list) -> host (brackets kept,
 * still percent-encoded) and port ('' when absent); undefined when the port is not a number.
 */
export function splitHostPort(text: string): { host: string; port: string } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/.exec(text);
  if (!m) return undefined;
  const port = m[2] ?? '';
  if (port !== '' && Number(port) > 65535) return undefined;
  return { host: m[1] ?? '', port };
}

/** `decodeURIComponent`, or undefined for a malformed escape (`%zz`) instead of a URIError. */
export function decodeComponent(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
