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
});
