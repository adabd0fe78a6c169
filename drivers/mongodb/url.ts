/**
 * How mongodb:// and mongodb+srv:// URLs read, ahead of the driver itself. A MongoDB URL is not
 * a WHATWG URL: `mongodb://user:password@a:27017,b:27017/crm?replicaSet=rs0` lists a seed of
 * hosts, each `host`, `host:port`, `[v6]:port` or a percent-encoded UNIX socket path. A source is
 * one database, named in the path.
 *
 * Default source name: the seed list, then `/database` (percent-decoded). Hosts are written as
 * given (ports only where the URL gives them, as for PostgreSQL) but sorted, because their order
 * means nothing to MongoDB: `b:27017,a:27017` and `a:27017,b:27017` name the same source. For
 * `mongodb+srv://` the name is the SRV name and the database: `cluster0.example.net/crm`. Query
 * options never enter the name.
 */
import type { UrlSyntax } from '../../src/driver/url-syntax.js';
import { UsageError } from '../../src/util/errors.js';
import { redactUrl } from '../../src/util/redact.js';
import { decodeComponent, splitHostPort, splitUrl } from '../../src/util/url-parts.js';

const EXPECTED = 'expected mongodb://user@host:27017,host2:27017/database';

export const urlSyntax: UrlSyntax = {
  describeUrl(url) {
    const redacted = redactUrl(url);
    const refuse = (why: string): never => {
      throw new UsageError(`"${redacted}" is not a MongoDB URL crm-backup can read: ${why}.`);
    };
    const split = splitUrl(url);
    if (!split.ok) return refuse(split.problem);
    const { scheme, hosts, path } = split.parts;
    const seed = hosts.split(',').map((text) => {
      const hp = text ? splitHostPort(text) : undefined;
      const host = hp && decodeComponent(hp.host);
      if (!hp || !host) return refuse(`each host must be host or host:port; ${EXPECTED}`);
      return { host, port: hp.port ? `:${Number(hp.port)}` : '' };
    });
    if (scheme === 'mongodb+srv' && (seed.length !== 1 || seed[0]?.port))
      return refuse('mongodb+srv:// takes one host name and no port (the DNS SRV record lists the servers)');
    const db = decodeComponent(path.replace(/^\//, ''));
    if (db === undefined) return refuse('it holds a malformed %-escape');
    if (!db) return refuse(`it names no database; a source is one database, ${EXPECTED}`);
    const names = seed.map((h) => `${h.host}${h.port}`).sort();
    return { defaultName: `${names.join(',')}/${db}`, redacted };
  },
};
