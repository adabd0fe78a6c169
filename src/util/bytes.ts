/** Byte-stream helpers shared by every layer. */

/**
 * Reads a whole stream into one buffer that owns its memory (it may be transferred to a worker).
 * For objects of bounded size only (chunks, manifests, keys): memory grows with the object.
 */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const c of chunks) {
    parts.push(c);
    total += c.length;
  }
  // One part that is a whole buffer of its own (a local file read in one go) needs no copy.
  const only = parts.length === 1 ? parts[0]! : undefined;
  if (only && only.byteOffset === 0 && only.byteLength === only.buffer.byteLength) return only;
  return concatBytes(parts, total);
}

/** The parts one after the other, in a new buffer that owns its memory. */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
