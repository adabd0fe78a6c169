import { describe, expect, it } from 'vitest';
import { mapFsError } from '../../../src/storage/fs-errors.js';
import { assertValidKey, assertValidPrefix } from '../../../src/storage/keys.js';
import { StorageError } from '../../../src/util/errors.js';

const errno = (code: string) => Object.assign(new Error(`${code}: raw text`), { code });

describe('mapFsError', () => {
  it('makes a full disk a permanent no-space error', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      expect(mapFsError(errno(code), 'write', '/repo/data/x', 'data/x')).toMatchObject({
        reason: 'no-space',
        permanent: true,
        key: 'data/x',
      });
    }
  });

  it('names the path when permission is denied', () => {
    const e = mapFsError(errno('EACCES'), 'write', '/srv/repo/data/x');
    expect(e.permanent).toBe(true);
    expect(e.message).toMatch(/^Permission denied to write \/srv\/repo\/data\/x; /);
    expect(e.message).toContain('needs read and write access');
  });

  it('treats missing files as not-found and flaky ones as transient', () => {
    expect(mapFsError(errno('ENOENT'), 'read', '/r/x')).toMatchObject({
      reason: 'not-found',
      permanent: true,
    });
    for (const code of ['EMFILE', 'EIO', 'EAGAIN', 'EBUSY']) {
      expect(mapFsError(errno(code), 'read', '/r/x').permanent).toBe(false);
    }
    expect(mapFsError(errno('EROFS'), 'write', '/r/x').permanent).toBe(true);
    const already = new StorageError('kept', { permanent: true });
    expect(mapFsError(already, 'read', '/r/x')).toBe(already);
  });
});

describe('key validation', () => {
  it('accepts relative paths and plain prefixes', () => {
    for (const k of ['a', 'data/ab/abcdef', 'x.y/z-1_2', 'keys/.hidden'])
      expect(() => assertValidKey(k)).not.toThrow();
    for (const p of ['', 'data/', 'data/a', 'a/b/c/']) expect(() => assertValidPrefix(p)).not.toThrow();
  });

  it('rejects what could escape the repository or hide from listings', () => {
    for (const k of ['', '/a', 'a/../b', '..', 'a//b', 'a/', './a', 'a\\b', 'a\0b', '.tmp-x', 'd/.tmp-1']) {
      expect(() => assertValidKey(k), k).toThrow(StorageError);
    }
    for (const p of ['/a', '../', 'a/../', 'a//b'])
      expect(() => assertValidPrefix(p), p).toThrow(StorageError);
  });
});
