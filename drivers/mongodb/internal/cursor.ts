/**
 * Cursor replies read as bytes. The snapshot and the change stream run `find`, `aggregate` and
 * `getMore` as commands with the driver's `raw: true` option, which leaves every sub-document of
 * the reply undecoded (a Uint8Array); the documents of a batch are then slices of the reply,
 * exactly as the server sent them.
 */
import { asDocument, asInteger, asString, elements, field } from './bson-raw.js';

export interface CursorBatch {
  /** 0 when the server has closed the cursor. */
  readonly id: bigint;
  readonly ns: string | undefined;
  /** The batch's documents, as the server's bytes. */
  readonly docs: readonly Uint8Array[];
  /** The `_data` of the change stream's post-batch resume token `{ _data }`, when present. */
  readonly postBatchToken: string | undefined;
}

export class CursorReplyError extends Error {}

/** The raw `cursor` sub-document of a command reply obtained with `{ raw: true }`. */
export function cursorDocument(reply: unknown): Uint8Array {
  if (reply instanceof Uint8Array) {
    const c = asDocument(field(reply, 'cursor'));
    if (c) return c;
  } else if (reply && typeof reply === 'object') {
    const c = (reply as { cursor?: unknown }).cursor;
    if (c instanceof Uint8Array) return c;
  }
  throw new CursorReplyError(
    'the server reply has no raw cursor document (the driver decoded it, which would lose BSON types)',
  );
}

export function readCursor(cursor: Uint8Array): CursorBatch {
  const batch = asDocument(field(cursor, 'firstBatch')) ?? asDocument(field(cursor, 'nextBatch'));
  if (!batch) throw new CursorReplyError('a cursor reply without firstBatch or nextBatch');
  const docs: Uint8Array[] = [];
  for (const e of elements(batch)) {
    const d = asDocument(e);
    if (!d) throw new CursorReplyError('a cursor batch holds something other than documents');
    docs.push(d);
  }
  const pbrt = asDocument(field(cursor, 'postBatchResumeToken'));
  return {
    id: asInteger(field(cursor, 'id')) ?? 0n,
    ns: asString(field(cursor, 'ns')),
    docs,
    postBatchToken: pbrt ? asString(field(pbrt, '_data')) : undefined,
  };
}
