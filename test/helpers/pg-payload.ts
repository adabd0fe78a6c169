/**
 * pg-changes/1 payloads written by hand, for replay tests that need a change the stream would not
 * produce on its own (a relation sent through a partitioned root, a fake catalog).
 */
export const INT4 = 23;
export const TEXT = 25;

/** A relation record: `columns` as [name, type oid, 1 when part of the replica identity]. */
export function relation(
  id: number,
  name: string,
  identity: 'd' | 'f' | 'n' | 'i',
  columns: ReadonlyArray<readonly [string, number, 0 | 1]>,
): unknown[] {
  return ['R', id, 'public', name, identity, columns.map(([col, type, key]) => [col, type, -1, key])];
}

/** The payload of one transaction part: its header line, then one JSON line per record. */
export function changePayload(records: readonly unknown[][]): Buffer {
  const lines = [{ format: 'pg-changes/1', xid: 1, part: 0 }, ...records];
  return Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n'), 'utf8');
}
