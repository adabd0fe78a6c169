/**
 * A MongoDB change-log position: the cluster time `Timestamp(t, i)` of a transaction, and the
 * resume token that lets a change stream continue right after it.
 *
 * Text form: `<t>.<i>` or `<t>.<i>~<token>`, e.g. `1700000000.3~8265A1…04`, where `t` and `i` are
 * the decimal seconds and increment (unsigned 32-bit each) and `<token>` is the `_data` string of
 * the change stream's resume token `{ _data: "<hex>" }`, upper case. A position typed by a user or
 * taken from a reference has no token.
 *
 * Order: by `t`, then by `i`, as numbers, never as text (`1700000000.10` comes after
 * `1700000000.9`); the token plays no part. One position is one cluster time: the stream groups
 * the events of one cluster time (and those of one multi-document transaction) into one stored
 * transaction, so two stored transactions never share a position.
 */
import type { Timestamp } from './bson-raw.js';

export interface MongoPosition {
  readonly ts: Timestamp;
  /** The resume token's `_data` (hex, upper case), when the position can resume a stream. */
  readonly token?: string;
}

const POSITION = /^(\d{1,10})\.(\d{1,10})(?:~([0-9A-Fa-f]+))?$/;
const UINT32_MAX = 0xffff_ffff;

export function parsePosition(text: string): MongoPosition {
  const m = POSITION.exec(text);
  const t = Number(m?.[1]);
  const i = Number(m?.[2]);
  if (!m || t > UINT32_MAX || i > UINT32_MAX)
    throw new Error(
      `"${text}" is not a MongoDB cluster time position (expected <seconds>.<increment>, e.g. 1700000000.3).`,
    );
  const token = m[3]?.toUpperCase();
  return { ts: { t, i }, ...(token ? { token } : {}) };
}

export function formatPosition(p: MongoPosition): string {
  return `${p.ts.t}.${p.ts.i}${p.token ? `~${p.token.toUpperCase()}` : ''}`;
}

export function compareTimestamps(a: Timestamp, b: Timestamp): number {
  if (a.t !== b.t) return a.t < b.t ? -1 : 1;
  if (a.i !== b.i) return a.i < b.i ? -1 : 1;
  return 0;
}

export function comparePositions(a: string, b: string): number {
  return compareTimestamps(parsePosition(a).ts, parsePosition(b).ts);
}

/** KeyString type byte of a Timestamp: a resume token's `_data` starts with the cluster time. */
const KEYSTRING_TIMESTAMP = 0x82;

/**
 * The cluster time a resume token's `_data` begins with (KeyString: type byte 130, then the
 * timestamp as a big-endian uint64: seconds, increment). Used for the post-batch resume token,
 * which carries no separate clusterTime field; undefined for a token of another shape.
 */
export function tokenClusterTime(data: string): Timestamp | undefined {
  if (data.length < 18 || !/^[0-9A-Fa-f]+$/.test(data)) return undefined;
  if (parseInt(data.slice(0, 2), 16) !== KEYSTRING_TIMESTAMP) return undefined;
  return { t: parseInt(data.slice(2, 10), 16), i: parseInt(data.slice(10, 18), 16) };
}
