/**
 * The transaction cases of mongo-tools' oplog_entries.json (../shared/fixtures/mongodb): each
 * case's oplog entries become the change events a server emits for them (MongoDB's documented
 * mapping, support/oplog-events.ts), the stream assembles them into stored transactions, the
 * restore turns those into its writes, and the evaluator applies the writes: the collection must
 * then hold exactly the case's post-image (same documents, same BSON types, same bytes).
 */
import { describe, expect, it } from 'vitest';
import { BSON } from 'mongodb';
import { decodePayload } from '../../../drivers/mongodb/internal/payload.js';
import { comparePositions } from '../../../drivers/mongodb/internal/position.js';
import { fixtureText, haveMongoFixtures, MONGO_FIXTURES } from './support/fixtures.js';
import { oplogToEvents, parseEjson } from './support/oplog-events.js';
import { assemble, replay } from './support/replay.js';

if (!haveMongoFixtures)
  console.log(
    `MongoDB oplog fixture tests skipped: ${MONGO_FIXTURES} not found (see ../shared/fixtures/README.md).`,
  );

interface Case {
  ops: Record<string, unknown>[];
  ns: string;
  postimage?: Record<string, unknown>[];
}

const cases = haveMongoFixtures ? parseEjson<Record<string, Case>>(fixtureText('oplog_entries.json')) : {};
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const byId = (a: Uint8Array, b: Uint8Array): number => hex(a).localeCompare(hex(b));

describe.skipIf(!haveMongoFixtures)(
  'oplog_entries.json: oplog -> change events -> stored transactions -> writes -> post-image',
  () => {
    const withImage = Object.entries(cases).filter(([, c]) => c.postimage);

    it('holds the 11 cases with a post-image', () => {
      expect(withImage.map(([n]) => n)).toHaveLength(11);
    });

    for (const [name, c] of withImage) {
      it(`${name}: the restored ${c.ns} equals the post-image`, () => {
        const [db, coll] = [c.ns.slice(0, c.ns.indexOf('.')), c.ns.slice(c.ns.indexOf('.') + 1)];
        const result = replay(oplogToEvents(c.ops), db);
        const got = result.documents(coll).sort(byId);
        const want = (c.postimage ?? []).map((d) => new Uint8Array(BSON.serialize(d))).sort(byId);
        expect(got.map(hex)).toEqual(want.map(hex));
      });
    }

    it('a multi-document transaction is one stored transaction, however many oplog entries it took', () => {
      for (const name of [
        'small, unprepared',
        'large, unprepared',
        'small, prepared, committed',
        'large, prepared, committed',
      ]) {
        const c = cases[name] as Case;
        const db = c.ns.slice(0, c.ns.indexOf('.'));
        const parts = assemble(oplogToEvents(c.ops), db);
        expect(
          parts.filter((p) => !p.more),
          name,
        ).toHaveLength(1);
        const header = decodePayload(parts[0]!.payload).header;
        expect(header.lsid, name).toBeDefined();
        expect(header.txnNumber, name).toBe(1n);
        // every part of one transaction has one position
        expect(new Set(parts.map((p) => comparePositions(p.position, parts[0]!.position))), name).toEqual(
          new Set([0]),
        );
      }
    });

    it('the large transaction cut into small parts still replays whole and in order', () => {
      const c = cases['large, prepared, committed'] as Case;
      const parts = assemble(oplogToEvents(c.ops), 'txntest', 200);
      expect(parts.length).toBeGreaterThan(3);
      expect(parts.slice(0, -1).every((p) => p.more)).toBe(true);
      expect(parts.at(-1)!.more).toBe(false);
      expect(parts.reduce((n, p) => n + p.changes, 0)).toBe(10);
    });

    it('aborted transactions store nothing', () => {
      for (const name of ['small, prepared, aborted', 'large, prepared, aborted']) {
        const c = cases[name] as Case;
        expect(assemble(oplogToEvents(c.ops), 'txntest'), name).toEqual([]);
      }
    });

    it('an index built in a transaction-less command with lsid is replayed as createIndexes', () => {
      const c = cases['not transaction with lsid and txnNumber and command'] as Case;
      const result = replay(oplogToEvents(c.ops), 'txntest');
      expect([...result.collections.get('k')!.indexes.keys()]).toEqual(['x_1']);
    });

    it('applyOps with multiOpType 1 is applied as separate writes (not a transaction)', () => {
      const c = cases['not transaction with multiOpType'] as Case;
      const parts = assemble(oplogToEvents(c.ops), 'test');
      expect(parts).toHaveLength(1);
      expect(decodePayload(parts[0]!.payload).header.lsid).toBeUndefined();
      const result = replay(oplogToEvents(c.ops), 'test');
      expect(result.documents('foo').map((d) => BSON.EJSON.stringify(BSON.deserialize(d)))).toEqual([
        '{"_id":4,"x":-20,"y":4}',
        '{"_id":5,"x":-30,"y":11}',
      ]);
    });
  },
);
