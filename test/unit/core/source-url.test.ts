/**
 * Every database URL is read by its driver's rules (`drivers/<db>/url.ts` through the registry),
 * planned drivers included: the default `--name` of a source, its redacted form, and one sentence
 * without the password for a URL that cannot be read.
 */
import { describe, expect, it } from 'vitest';
import { describeSourceUrl } from '../../../src/driver/registry.js';
import { UsageError } from '../../../src/util/errors.js';

const nameOf = async (url: string): Promise<string> => (await describeSourceUrl(url)).defaultName;

/** How crm-backup 0.1 named PostgreSQL sources (src/cli/context.ts): names in repositories must not change. */
function releasedName(url: string): string {
  const u = new URL(url);
  const db = decodeURIComponent(u.pathname.replace(/^\//, '')) || 'default';
  return `${u.hostname || 'localhost'}${u.port ? `:${u.port}` : ''}/${db}`;
}

/** The refusal of `url`, which must be a UsageError. */
async function refusal(url: string): Promise<string> {
  const err: unknown = await describeSourceUrl(url).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, url).toBeInstanceOf(UsageError);
  return (err as Error).message;
}

describe('default source names', () => {
  it('PostgreSQL: host:port/database, as before', async () => {
    const cases: Array<[string, string]> = [
      ['postgres://app:pw@db.internal:5432/crm', 'db.internal:5432/crm'],
      ['postgresql://app:pw@db.internal:5432/crm', 'db.internal:5432/crm'],
      // no port in the URL: none in the name (5432 is not filled in), as crm-backup always did
      ['postgres://app@db.internal/crm', 'db.internal/crm'],
      ['postgres:///crm', 'localhost/crm'],
      ['postgres://db', 'db/default'],
      ['postgres://app:pw@db:5432/crm?sslmode=require&options=-c%20work_mem%3D64MB', 'db:5432/crm'],
      ['postgres:///crm?host=/var/run/postgresql', 'localhost/crm'],
      ['postgres://app:pw@[::1]:5432/crm', '[::1]:5432/crm'],
      ['postgres://app:pw@[2001:db8::7]/crm', '[2001:db8::7]/crm'],
      ['postgres://app@db/cr%6D%20prod', 'db/crm prod'],
      ['postgres://app:p%40ss@db/crm', 'db/crm'],
    ];
    for (const [url, name] of cases) {
      expect(await nameOf(url), url).toBe(name);
      expect(await nameOf(url), url).toBe(releasedName(url));
    }
  });

  it('MySQL/MariaDB: host:port/database, or the socket path in place of host:port', async () => {
    const cases: Array<[string, string]> = [
      ['mysql://root:pw@db.internal:3306/crm', 'db.internal:3306/crm'],
      ['mariadb://root:pw@db.internal:3306/crm', 'db.internal:3306/crm'],
      ['mysql://root:pw@db.internal/crm', 'db.internal/crm'],
      ['mysql://root@/crm', 'localhost/crm'],
      ['mysql://root:pw@db:3306/crm?ssl={"rejectUnauthorized":true}&charset=utf8mb4', 'db:3306/crm'],
      ['mysql://root:pw@[::1]:3306/crm', '[::1]:3306/crm'],
      ['mysql://root:pw@db/cr%6D%2Dprod', 'db/crm-prod'],
      ['mysql://root:pw@localhost/crm?socketPath=/run/mysqld/mysqld.sock', '/run/mysqld/mysqld.sock/crm'],
      ['mysql://root:pw@/crm?socketPath=%2Ftmp%2Fmysql.sock', '/tmp/mysql.sock/crm'],
      ['mysql://root:pw@%2Frun%2Fmysqld%2Fmysqld.sock/crm', '/run/mysqld/mysqld.sock/crm'],
    ];
    for (const [url, name] of cases) expect(await nameOf(url), url).toBe(name);
  });

  it('MongoDB: the seed list, sorted, then the database; +srv: the SRV name and the database', async () => {
    const cases: Array<[string, string]> = [
      ['mongodb://app:pw@a:27017,b:27017/crm', 'a:27017,b:27017/crm'],
      ['mongodb://app:pw@b:27017,a:27017/crm', 'a:27017,b:27017/crm'],
      [
        'mongodb://app:pw@c.example.net,a.example.net:27018/crm?replicaSet=rs0',
        'a.example.net:27018,c.example.net/crm',
      ],
      ['mongodb://db.internal/crm', 'db.internal/crm'],
      ['mongodb://app:pw@[::1]:27017,[fe80::2]:27017/crm', '[::1]:27017,[fe80::2]:27017/crm'],
      ['mongodb://%2Ftmp%2Fmongodb-27017.sock/crm', '/tmp/mongodb-27017.sock/crm'],
      ['mongodb://a/cr%6D%2D2026?authSource=admin', 'a/crm-2026'],
      [
        'mongodb+srv://app:pw@cluster0.example.net/crm?retryWrites=true&w=majority',
        'cluster0.example.net/crm',
      ],
    ];
    for (const [url, name] of cases) expect(await nameOf(url), url).toBe(name);
  });

  it('scheme case does not matter', async () => {
    expect(await nameOf('MongoDB://a:1,b:2/crm')).toBe('a:1,b:2/crm');
  });
});

describe('redacted URLs', () => {
  it('keep where the server is and drop the password and the options', async () => {
    expect(
      (await describeSourceUrl('mongodb://app:s3cret@a:27017,b:27017/crm?authSource=admin')).redacted,
    ).toBe('mongodb://app@a:27017,b:27017/crm');
    expect(
      (
        await describeSourceUrl(
          'mysql://root:s3cret@localhost/crm?socketPath=/run/mysqld/mysqld.sock&password=s3cret',
        )
      ).redacted,
    ).toBe('mysql://root@localhost/crm?socketPath=/run/mysqld/mysqld.sock');
    expect((await describeSourceUrl('postgres://app:s3cret@db:5432/crm?sslpassword=s3cret')).redacted).toBe(
      'postgres://app@db:5432/crm',
    );
  });
});

describe('URLs that cannot be read', () => {
  it('are refused in one sentence that names the fix and never the password', async () => {
    const cases: Array<[string, RegExp]> = [
      [
        'mongodb://app:s3cret@a:27017,,b/crm',
        /^"mongodb:\/\/app@a:27017,,b\/crm" is not a MongoDB URL crm-backup can read: each host must be host or host:port; expected mongodb:\/\/user@host:27017,host2:27017\/database\.$/,
      ],
      ['mongodb://app:s3cret@a:27017,b:99999/crm', /each host must be host or host:port/],
      ['mongodb://app:s3cret@a:27017/', /it names no database; a source is one database/],
      [
        'mongodb+srv://app:s3cret@a.example.net,b.example.net/crm',
        /mongodb\+srv:\/\/ takes one host name and no port/,
      ],
      [
        'mongodb+srv://app:s3cret@cluster0.example.net:27017/crm',
        /mongodb\+srv:\/\/ takes one host name and no port/,
      ],
      [
        'mysql://root:s3cret@a,b/crm',
        /^"mysql:\/\/root@a,b\/crm" is not a MySQL\/MariaDB URL crm-backup can read: it lists several hosts/,
      ],
      ['mysql://root:s3cret@db:port/crm', /its port is not a number/],
      ['mysql://root:s3cret@db:3306', /it names no database/],
      ['mysql://root:s3cret@db/cr%zz', /malformed %-escape/],
      [
        'postgres://app:s3cret@a:5432,b:5432/crm',
        /^"postgres:\/\/app@a:5432,b:5432\/crm" is not a valid PostgreSQL URL; expected postgres:\/\/user@host:5432\/database\.$/,
      ],
      ['postgres://app:s3cret@db/cr%zz', /is not a valid PostgreSQL URL/],
      // an unencoded "/" in a password: never read as host "app", port 12 and a path
      [
        'postgres://app:12/s3cret@db/crm',
        /^"postgres:\/\/…" is not a PostgreSQL URL crm-backup can read: an "@" follows the host; percent-encode/,
      ],
      [
        'mongodb://app:12/s3cret@a:27017,b:27017/crm',
        /^"mongodb:\/\/…" is not a MongoDB URL crm-backup can read: an "@" follows the host/,
      ],
      [
        'mysql://root:12?s3cret@localhost/crm?socketPath=/run/mysqld/mysqld.sock',
        /^"mysql:\/\/…" is not a MySQL\/MariaDB URL crm-backup can read: an "@" follows the host/,
      ],
    ];
    for (const [url, message] of cases) {
      const m = await refusal(url);
      expect(m, url).toMatch(message);
      expect(m, url).not.toContain('s3cret');
    }
  });

  it('an unknown scheme names the schemes this build reads', async () => {
    expect(await refusal('oracle://scott:tiger@db/orcl')).toBe(
      'Unknown database URL scheme "oracle:"; supported schemes are postgres:, postgresql:, mysql:, mariadb:, mongodb:, mongodb+srv:.',
    );
  });
});

describe('passwords never reach a name or a redacted URL', () => {
  it('for every scheme and URL form', async () => {
    for (const url of [
      'postgres://app:s3cret@db:5432/crm?sslpassword=s3cret',
      'postgresql://app:s3cret@[::1]/crm',
      'mysql://root:s3cret@db:3306/crm?password=s3cret',
      'mariadb://root:s3cret@localhost/crm?socketPath=/run/mysqld/mysqld.sock',
      'mongodb://app:s3cret@a:27017,b:27017/crm?authMechanismProperties=TOKEN:s3cret',
      'mongodb+srv://app:s3cret@cluster0.example.net/crm',
      'mongodb://app:s3%40cret@a/crm',
    ]) {
      const d = await describeSourceUrl(url);
      expect(JSON.stringify(d), url).not.toMatch(/s3cret|s3%40cret/);
    }
  });
});
