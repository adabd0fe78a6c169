import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Secret, redactUrl } from '../../../src/util/redact.js';

describe('secrets', () => {
  it('never print their value', () => {
    const s = new Secret('hunter2');
    expect(`${s}`).toBe('***');
    expect(JSON.stringify({ s })).toBe('{"s":"***"}');
    expect(inspect({ s })).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2');
  });

  it('URLs lose password and query', () => {
    expect(redactUrl('postgres://app:s3cret@db:5432/crm?sslpassword=x')).toBe('postgres://app@db:5432/crm');
    expect(redactUrl('not a url with secret')).toBe('(unparseable location)');
  });

  it('seed lists and socket URLs keep their hosts and lose the password', () => {
    expect(redactUrl('mongodb://app:s3cret@a:27017,b:27017/crm?replicaSet=rs0&authSource=admin')).toBe(
      'mongodb://app@a:27017,b:27017/crm',
    );
    expect(redactUrl('mongodb://app:s3cret@[::1]:27017,[fe80::2]:27018/crm')).toBe(
      'mongodb://app@[::1]:27017,[fe80::2]:27018/crm',
    );
    expect(redactUrl('mongodb+srv://app:s3cret@cluster0.example.net/crm?retryWrites=true')).toBe(
      'mongodb+srv://app@cluster0.example.net/crm',
    );
    expect(redactUrl('mysql://root:s3cret@localhost/crm?socketPath=/run/mysqld/mysqld.sock&password=x')).toBe(
      'mysql://root@localhost/crm',
    );
    // a password without a user, and one holding an "@" (the last "@" of the host part ends it)
    expect(redactUrl('mongodb://:s3cret@a,b/crm')).toBe('mongodb://a,b/crm');
    expect(redactUrl('postgres://app:s3@cr@t@db/crm')).toBe('postgres://app@db/crm');
  });

  it('shows only the scheme when a password could be read as a host or a path', () => {
    // an unencoded "/", "?" or "#" in the password ends the host part early
    for (const url of [
      'postgres://app:12/s3cret@db/crm',
      'mongodb://app:27017/s3cret@a:27017,b:27017/crm',
      'mysql://root:12?s3cret@db/crm',
      'postgres://app:12#s3cret@db/crm',
      'postgres://app:x@y/s3cret@db/crm',
    ]) {
      const shown = redactUrl(url);
      expect(shown, url).toMatch(/^[a-z+]+:\/\/…$/);
      expect(shown).not.toMatch(/s3cret|12/);
    }
  });
});
