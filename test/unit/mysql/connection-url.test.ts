/** How the MySQL/MariaDB driver reads a URL into connection options (never printing the password). */
import { describe, expect, it } from 'vitest';
import { parseMysqlUrl } from '../../../drivers/mysql/internal/connection.js';

describe('parseMysqlUrl', () => {
  it('reads user, percent-encoded password, host, port and database', () => {
    const e = parseMysqlUrl('mysql://app:p%40ss%3Aw@db.example.com:3307/crm%2Dprod');
    expect(e.options).toMatchObject({
      user: 'app',
      password: 'p@ss:w',
      host: 'db.example.com',
      port: 3307,
      database: 'crm-prod',
    });
    expect(e.database).toBe('crm-prod');
    expect(e.display).not.toContain('p%40ss');
  });

  it('keeps a colon inside the password and takes port 3306 by default', () => {
    const e = parseMysqlUrl('mariadb://root:a:b@127.0.0.1/crm');
    expect(e.options).toMatchObject({ password: 'a:b', host: '127.0.0.1', port: 3306 });
  });

  it('connects over a UNIX socket given as a query option or as the host', () => {
    expect(parseMysqlUrl('mysql://u@localhost/crm?socketPath=/run/mysqld/mysqld.sock').options).toMatchObject(
      {
        socketPath: '/run/mysqld/mysqld.sock',
      },
    );
    const e = parseMysqlUrl('mysql://u@%2Frun%2Fmysqld%2Fmysqld.sock/crm');
    expect(e.options.socketPath).toBe('/run/mysqld/mysqld.sock');
    expect(e.options.host).toBeUndefined();
  });

  it('asks for TLS when the URL says so, with options given as JSON', () => {
    expect(parseMysqlUrl('mysql://u@h/crm?ssl=true').options.ssl).toEqual({});
    expect(parseMysqlUrl('mysql://u@h/crm?ssl={"rejectUnauthorized":true}').options.ssl).toEqual({
      rejectUnauthorized: true,
    });
    expect(parseMysqlUrl('mysql://u@h/crm').options.ssl).toBeUndefined();
    expect(() => parseMysqlUrl('mysql://u@h/crm?ssl=maybe')).toThrow(/ssl option/);
  });

  it('refuses a URL without a database, or with several hosts, in one sentence without the password', () => {
    expect(() => parseMysqlUrl('mysql://u:s3cret@h:3306/')).toThrow(/names no database/);
    expect(() => parseMysqlUrl('mysql://u:s3cret@a,b/crm')).toThrow(/lists several hosts/);
    try {
      parseMysqlUrl('mysql://u:s3cret@h/');
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
    }
  });
});
