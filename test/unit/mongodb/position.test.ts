/** MongoDB positions: cluster times compared as (seconds, increment) pairs, never as text. */
import { describe, expect, it } from 'vitest';
import { pbrtPosition } from '../../../drivers/mongodb/change-log.js';
import { buildArray, buildDocument, el } from '../../../drivers/mongodb/internal/bson-raw.js';
import { readCursor } from '../../../drivers/mongodb/internal/cursor.js';
import {
  comparePositions,
  formatPosition,
  parsePosition,
  tokenClusterTime,
} from '../../../drivers/mongodb/internal/position.js';

describe('MongoDB cluster-time positions', () => {
  it('orders by seconds, then increment, as numbers', () => {
    const sorted = ['1700000000.10', '1700000000.9', '999999999.5', '1700000001.0', '1700000000.9~82AB'];
    sorted.sort(comparePositions);
    expect(sorted).toEqual([
      '999999999.5',
      '1700000000.9',
      '1700000000.9~82AB',
      '1700000000.10',
      '1700000001.0',
    ]);
    // the text order is different: a string sort would put 1700000000.10 before 1700000000.9
    expect(['1700000000.10', '1700000000.9'].sort()).toEqual(['1700000000.10', '1700000000.9']);
    expect(comparePositions('1700000000.10', '1700000000.9')).toBe(1);
  });

  it('the resume token plays no part in the order', () => {
    expect(comparePositions('5.1~82AA', '5.1~82BB')).toBe(0);
    expect(comparePositions('5.1', '5.1~82BB')).toBe(0);
  });

  it('reads and writes the text form, the token upper case', () => {
    const p = parsePosition('1515616500.20~8265a1b2c3');
    expect(p).toEqual({ ts: { t: 1515616500, i: 20 }, token: '8265A1B2C3' });
    expect(formatPosition(p)).toBe('1515616500.20~8265A1B2C3');
    expect(formatPosition({ ts: { t: 4294967295, i: 4294967295 } })).toBe('4294967295.4294967295');
  });

  it('refuses what is not a position', () => {
    for (const bad of [
      '',
      '1515616500',
      '1.2.3',
      'Timestamp(1, 2)',
      '4294967296.0',
      '1.4294967296',
      '1.2~xyz',
    ])
      expect(() => parsePosition(bad), bad).toThrow(/not a MongoDB cluster time position/);
  });

  it('reads the cluster time at the start of a resume token', () => {
    // KeyString: 0x82 (Timestamp), then seconds and increment as big-endian uint32s
    expect(tokenClusterTime('825A56A6F400000014' + '2B022C0100296E5A1004')).toEqual({ t: 1515628276, i: 20 });
    expect(tokenClusterTime('8200000000')).toBeUndefined();
    expect(tokenClusterTime('91' + '0'.repeat(20))).toBeUndefined();
  });

  it("a change stream batch's post-batch resume token is the heartbeat position, upper case", () => {
    const cursor = (pbrt: string | undefined): Uint8Array =>
      buildDocument([
        el.array('nextBatch', buildArray([])),
        el.int64('id', 42n),
        el.string('ns', 'admin.$cmd.aggregate'),
        ...(pbrt === undefined
          ? []
          : [el.document('postBatchResumeToken', buildDocument([el.string('_data', pbrt)]))]),
      ]);
    const batch = readCursor(cursor('825a56a6f4000000142b0229296e04'));
    expect(batch).toMatchObject({ id: 42n, docs: [], postBatchToken: '825a56a6f4000000142b0229296e04' });
    expect(pbrtPosition(batch)).toBe('1515628276.20~825A56A6F4000000142B0229296E04');
    expect(pbrtPosition(readCursor(cursor(undefined)))).toBeUndefined();
    expect(pbrtPosition(readCursor(cursor('91AB')))).toBeUndefined();
  });
});
