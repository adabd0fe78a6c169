/**
 * PostgreSQL positions are LSNs. A transaction's position is the END LSN of its commit record;
 * a snapshot's position is the consistent point of the slot that exported it. A transaction is
 * in the snapshot iff its position <= the snapshot position, and a restart from an acknowledged
 * position P (confirmed_flush_lsn) resends exactly the transactions with position > P.
 *
 * Encoded as 16 upper-case hex digits, so that a position reads the same in every message and
 * manifest. The core orders positions only through `comparePositions`, never as strings.
 */
import type { Position } from '../../../src/driver/source-driver.js';

const LSN_TEXT = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;

export function lsnToBigInt(lsn: string): bigint {
  const m = LSN_TEXT.exec(lsn);
  if (!m?.[1] || !m[2]) throw new Error(`"${lsn}" is not a PostgreSQL LSN like 0/16B3748.`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function bigIntToLsn(v: bigint): string {
  return `${(v >> 32n).toString(16).toUpperCase()}/${(v & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function encodePosition(v: bigint): Position {
  return v.toString(16).toUpperCase().padStart(16, '0');
}

export function decodePosition(p: Position): bigint {
  if (!/^[0-9A-F]{16}$/.test(p)) throw new Error(`"${p}" is not a PostgreSQL position of this tool.`);
  return BigInt(`0x${p}`);
}

export function positionFromLsn(lsn: string): Position {
  return encodePosition(lsnToBigInt(lsn));
}

export function positionToLsn(p: Position): string {
  return bigIntToLsn(decodePosition(p));
}

export function comparePositions(a: Position, b: Position): number {
  const x = decodePosition(a);
  const y = decodePosition(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
