/**
 * How mysql:// and mariadb:// URLs read, ahead of the driver itself. A source is one database on
 * one server, in the form mysql2 accepts: `mysql://user:password@host:3306/crm`, or over a UNIX
 * socket `mysql://user@localhost/crm?socketPath=/run/mysqld/mysqld.sock` (a percent-encoded path
 * as host, `mysql://user@%2Frun%2Fmysqld%2Fmysqld.sock/crm`, is read as a socket too).
 *
 * Default source name: `host:port/database` like PostgreSQL's (the host as written, `localhost`
 * when the URL has none, IPv6 in brackets; the port only when the URL gives one; the database
 * percent-decoded). Over a socket the socket path takes the place of `host:port`
 * (`/run/mysqld/mysqld.sock/crm`), so two servers on one machine keep apart. Other query options
 * never enter the name.
 */
import type { UrlSyntax } from '../../src/driver/url-syntax.js';
import { UsageError } from '../../src/util/errors.js';
import { redactUrl } from '../../src/util/redact.js';
import { decodeComponent, splitHostPort, splitUrl } from '../../src/util/url-parts.js';

const EXPECTED = 'expected mysql://user@host:3306/database';

export const urlSyntax: UrlSyntax = {
  describeUrl(url) {
    const redactedUrl = redactUrl(url);
    const refuse = (why: string): never => {
      throw new UsageError(`"${redactedUrl}" is not a MySQL/MariaDB URL crm-backup can read: ${why}.`);
    };
    const split = splitUrl(url);
    if (!split.ok) return refuse(split.problem);
    const { hosts, path, query } = split.parts;
    if (hosts.includes(',')) return refuse(`it lists several hosts; a source is one server, ${EXPECTED}`);
    const hp = splitHostPort(hosts);
    if (!hp) return refuse(`its port is not a number from 0 to 65535; ${EXPECTED}`);
    const host = decodeComponent(hp.host);
    const db = decodeComponent(path.replace(/^\//, ''));
    if (host === undefined || db === undefined) return refuse('it holds a malformed %-escape');
    if (!db) return refuse(`it names no database; a source is one database, ${EXPECTED}`);
    const socketPath = new URLSearchParams(query).get('socketPath') || (host.startsWith('/') ? host : '');
    if (socketPath) {
      return { defaultName: `${socketPath}/${db}`, redacted: `${redactedUrl}?socketPath=${socketPath}` };
    }
    const port = hp.port ? `:${Number(hp.port)}` : '';
    return { defaultName: `${host || 'localhost'}${port}/${db}`, redacted: redactedUrl };
  },
};
