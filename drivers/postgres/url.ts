/**
 * How postgres:// and postgresql:// URLs read, without loading the driver. The default source name
 * is `host:port/database`, exactly as crm-backup has always derived it: the host as written
 * (`localhost` when the URL has none; an IPv6 address keeps its brackets), the port only when the
 * URL gives one, the database percent-decoded (`default` when the URL has none). Query options
 * (`?host=/var/run/postgresql`, `?sslmode=require`) never enter the name. The URL is read by the
 * WHATWG parser, as `internal/connection.ts` (and node-postgres) read it to connect, so the name
 * always describes the server that is connected to.
 */
import type { UrlSyntax } from '../../src/driver/url-syntax.js';
import { UsageError } from '../../src/util/errors.js';
import { redactUrl } from '../../src/util/redact.js';
import { splitUrl } from '../../src/util/url-parts.js';

const EXPECTED = 'expected postgres://user@host:5432/database';

export const urlSyntax: UrlSyntax = {
  describeUrl(url) {
    const redacted = redactUrl(url);
    const split = splitUrl(url);
    // the WHATWG parser would read `u:12/ab@db` as host u, port 12 and a path holding the password
    if (!split.ok)
      throw new UsageError(`"${redacted}" is not a PostgreSQL URL crm-backup can read: ${split.problem}.`);
    try {
      const u = new URL(url);
      const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'default';
      return { defaultName: `${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}/${db}`, redacted };
    } catch {
      throw new UsageError(`"${redacted}" is not a valid PostgreSQL URL; ${EXPECTED}.`);
    }
  },
};
