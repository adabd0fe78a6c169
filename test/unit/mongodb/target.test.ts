/**
 * What the MongoDB target and its errors claim, on the paths that need no server: a plan of loads
 * without the snapshot's change tail is refused before any load, a stream or
 * schema of another format is refused, the snapshot's schema comes back as the server's bytes, a
 * write the server refused is one sentence, and the server's own messages never carry the password.
 */
import { MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { checkWriteErrors } from '../../../drivers/mongodb/apply.js';
import { buildDocument, el } from '../../../drivers/mongodb/internal/bson-raw.js';
import { mongoError, parseMongoUrl } from '../../../drivers/mongodb/internal/connection.js';
import { decodeSchema, encodeSchema, SCHEMA_FORMAT } from '../../../drivers/mongodb/schema.js';
import { TAIL_STREAM } from '../../../drivers/mongodb/snapshot.js';
import { MongoTarget } from '../../../drivers/mongodb/target.js';
import { SourceError } from '../../../src/util/errors.js';

// port 1: nothing listens there, so a test that reached the server would fail, not pass
const URL = 'mongodb://app:s3cret@127.0.0.1:1/crm_restored';
const ep = parseMongoUrl(URL);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('MongoDB target without a server', () => {
  it('reads the database and the redacted form from the URL', () => {
    expect(ep).toEqual({
      url: URL,
      database: 'crm_restored',
      display: 'mongodb://app@127.0.0.1:1/crm_restored',
    });
  });

  it('refuses a plan of loads without the change tail, before any load', async () => {
    const t = new MongoTarget(ep);
    try {
      expect(() => t.planLoads([{ name: 'contacts', bytes: 10 }])).toThrow(
        'This MongoDB snapshot has no $changes stream (the changes recorded while it was read), without which it cannot be restored to one instant; take a new snapshot.',
      );
      expect(() =>
        t.planLoads([
          { name: 'contacts', bytes: 10 },
          { name: TAIL_STREAM, bytes: 0 },
        ]),
      ).not.toThrow();
    } finally {
      await t.close();
    }
  });

  it('refuses a stream of another format in one sentence', async () => {
    const t = new MongoTarget(ep);
    try {
      await expect(t.load('contacts', 'mysql-tsv/1', (async function* () {})())).rejects.toThrow(
        'Stream "contacts" has format "mysql-tsv/1"; this driver loads "mongodb-bson/1".',
      );
    } finally {
      await t.close();
    }
  });
});

describe('the snapshot schema, mongodb-schema/1', () => {
  it("keeps each collection's listCollections entry and index specifications as the server's bytes", () => {
    const info = buildDocument([
      el.string('name', 'logs'),
      el.string('type', 'collection'),
      el.document('options', buildDocument([el.bool('capped', true), el.int64('size', 4096n)])),
    ]);
    const view = buildDocument([el.string('name', 'recent'), el.string('type', 'view')]);
    const idx = [
      buildDocument([
        el.int32('v', 2),
        el.document('key', buildDocument([el.int32('_id', 1)])),
        el.string('name', '_id_'),
      ]),
      buildDocument([
        el.int32('v', 2),
        el.document('key', buildDocument([el.int32('at', -1)])),
        el.string('name', 'at_-1'),
      ]),
    ];
    const doc = decodeSchema(
      encodeSchema({
        db: 'crm',
        collections: [
          { name: 'logs', type: 'collection', info, options: undefined, indexes: idx },
          { name: 'recent', type: 'view', info: view, options: undefined, indexes: [] },
        ],
      }),
      SCHEMA_FORMAT,
    );
    expect(doc.db).toBe('crm');
    expect(doc.collections.map((c) => [c.name, c.type, hex(c.info), c.indexes.map(hex)])).toEqual([
      ['logs', 'collection', hex(info), idx.map(hex)],
      ['recent', 'view', hex(view), []],
    ]);
    expect(hex(doc.collections[0]!.options!)).toBe(
      hex(buildDocument([el.bool('capped', true), el.int64('size', 4096n)])),
    );
  });

  it('refuses a schema of another format', () => {
    expect(() => decodeSchema(buildDocument([]), 'mongodb-schema/2')).toThrow(
      'schema format mongodb-schema/2; this driver reads mongodb-schema/1',
    );
  });
});

describe('MongoDB errors', () => {
  it('a refused write is one sentence naming how many documents, the first reason and its code', () => {
    const reply = {
      n: 1,
      writeErrors: [
        { index: 0, code: 11000, errmsg: 'E11000 duplicate key error' },
        { index: 2, code: 121, errmsg: 'Document failed validation' },
        { index: 3, code: 121, errmsg: 'Document failed validation' },
      ],
    };
    expect(() => checkWriteErrors(reply, 'replaying updates of people', ep)).toThrow(
      'Replaying updates of people on mongodb://app@127.0.0.1:1/crm_restored failed for 3 document(s), e.g. "E11000 duplicate key error" (code 11000).',
    );
    // the duplicates a load may meet are counted, the rest still refused
    expect(() => checkWriteErrors(reply, 'loading collection people', ep, [11000])).toThrow(
      'Loading collection people on mongodb://app@127.0.0.1:1/crm_restored failed for 2 document(s), e.g. "Document failed validation" (code 121).',
    );
    expect(
      checkWriteErrors(
        { n: 2, writeErrors: [reply.writeErrors[0]] },
        'loading collection people',
        ep,
        [11000],
      ),
    ).toBe(1);
    expect(checkWriteErrors({ n: 2 }, 'loading collection people', ep)).toBe(0);
  });

  it("a failed call names the server by its redacted URL, the server's code, never the password", () => {
    const quoted = mongoError(new Error(`could not reach ${URL}.`), ep, 'Cannot connect to');
    expect(quoted).toBeInstanceOf(SourceError);
    expect(quoted.message).toBe(
      'Cannot connect to mongodb://app@127.0.0.1:1/crm_restored: could not reach mongodb://app@127.0.0.1:1/crm_restored.',
    );
    const server = new MongoServerError({
      message: 'not authorized on crm_restored to execute command',
      code: 13,
    });
    expect(mongoError(server, ep, 'Cannot check').message).toBe(
      'Cannot check mongodb://app@127.0.0.1:1/crm_restored: not authorized on crm_restored to execute command (code 13).',
    );
    const ours = new SourceError('already one sentence');
    expect(mongoError(ours, ep, 'Cannot check')).toBe(ours);
  });
});
