import { describe, expect, it } from 'vitest';
import { comparePositions, formatPosition, parsePosition } from '../../../drivers/mysql/internal/position.js';
import { GtidState } from '../../../drivers/mysql/internal/gtid-state.js';

describe('MySQL binlog positions and GTID state', () => {
  it('orders by file sequence then offset, never as text, and ignores the GTID state', () => {
    expect(comparePositions('binlog.000010:4', 'binlog.000009:900')).toBe(1);
    expect(comparePositions('binlog.1000000:4', 'binlog.999999:4')).toBe(1);
    expect(comparePositions('binlog.000002:100#0-1-5', 'binlog.000002:100')).toBe(0);
    expect(comparePositions('binlog.000002:99', 'binlog.000002:100')).toBe(-1);
    expect(formatPosition(parsePosition('my-bin.000003:1234#0-1-57,1-2-9'))).toBe(
      'my-bin.000003:1234#0-1-57,1-2-9',
    );
    expect(() => parsePosition('0/16B3748')).toThrow(/not a MySQL\/MariaDB binlog position/);
  });

  it('keeps the last GTID per MariaDB domain and merged MySQL intervals', () => {
    const s = new GtidState('0-1-5,1-2-9');
    s.add('0-1-6');
    s.add('2-3-1');
    expect(s.toString()).toBe('0-1-6,1-2-9,2-3-1');
    const u = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
    const m = new GtidState(`${u}:1-5:8`);
    m.add(`${u}:6`);
    m.add(`${u}:7`);
    m.add(`${u}:10`);
    expect(m.toString()).toBe(`${u}:1-8:10`);
  });
});
