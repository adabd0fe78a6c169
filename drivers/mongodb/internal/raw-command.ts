/**
 * Sending documents to the server as the bytes they were read as. The Node driver has no public
 * way to insert raw BSON: `insertMany` serializes JavaScript objects, which would turn an
 * integer-like key order around (`{ b: 1, "1": 2 }` becomes `{ "1": 2, b: 1 }`), write a
 * deprecated undefined as null, and a DBPointer as a DBRef document. Its OP_MSG layer, though,
 * sends a command field whose value is a `DocumentSequence` as a payload-type-1 section made of
 * the document bytes pushed into it, unchanged (the driver's own bulk writes use it). This module
 * is the one place that reaches that class, and it checks its shape when loaded, so a driver
 * upgrade that moves it fails loudly with one sentence instead of writing something else.
 */
import { createRequire } from 'node:module';

interface DocumentSequenceLike {
  push(document: object, bytes: Uint8Array): number;
}
type DocumentSequenceClass = new (field: string) => DocumentSequenceLike;

let cached: DocumentSequenceClass | undefined;

function sequenceClass(): DocumentSequenceClass {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  let mod: { DocumentSequence?: unknown };
  try {
    mod = require('mongodb/lib/cmap/commands.js') as { DocumentSequence?: unknown };
  } catch (err) {
    throw new Error(
      `The installed mongodb driver has no lib/cmap/commands.js, which crm-backup needs to send raw BSON (${String(err)}); install mongodb 7.x.`,
    );
  }
  const C = mod.DocumentSequence;
  if (typeof C !== 'function' || typeof (C.prototype as { push?: unknown }).push !== 'function')
    throw new Error(
      'The installed mongodb driver has no DocumentSequence with push(document, bytes); crm-backup needs it to send raw BSON (install mongodb 7.x).',
    );
  cached = C as DocumentSequenceClass;
  return cached;
}

/**
 * The value for a command field (`documents` of insert, `updates` of update, `deletes` of delete)
 * that the driver sends as these exact bytes, one document each.
 */
export function rawSequence(fieldName: string, docs: readonly Uint8Array[]): unknown {
  const Seq = sequenceClass();
  const seq = new Seq(fieldName);
  // the object is only what command monitoring shows; the bytes are what is sent
  for (const d of docs) seq.push({ rawBsonBytes: d.byteLength }, d);
  return seq;
}
