/**
 * Test support: raw change events through the driver's pure path — assembly into stored parts,
 * the `mongodb-changes/1` payload, the restore's writes — into the evaluator.
 */
import { EventAssembler, type AssembledPart } from '../../../../drivers/mongodb/internal/assembly.js';
import { decodePayload } from '../../../../drivers/mongodb/internal/payload.js';
import { writesOf, type WriteOp } from '../../../../drivers/mongodb/internal/writes.js';
import { Evaluator } from './evaluator.js';

/** A post-batch resume token far after any test event: it completes the open group. */
export const END_TOKEN = `82${'FFFFFFF0'}${'00000001'}04`;

export function assemble(events: readonly Uint8Array[], db: string, partMaxBytes?: number): AssembledPart[] {
  const a = new EventAssembler({
    db,
    marker: { db: 'crmb', coll: 'heartbeat' },
    ...(partMaxBytes ? { partMaxBytes } : {}),
  });
  const parts: AssembledPart[] = [];
  for (const e of events) parts.push(...a.push(e));
  parts.push(...a.advance(END_TOKEN));
  return parts;
}

export function writesOfParts(
  parts: readonly AssembledPart[],
  sourceDb: string,
  targetDb = 'restored',
): WriteOp[] {
  const out: WriteOp[] = [];
  for (const p of parts)
    for (const r of decodePayload(p.payload).records) out.push(...writesOf(r, { sourceDb, targetDb }));
  return out;
}

export function replay(events: readonly Uint8Array[], db: string, into = new Evaluator()): Evaluator {
  for (const op of writesOfParts(assemble(events, db), db, into.targetDb)) into.apply(op);
  return into;
}
