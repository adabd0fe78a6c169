/**
 * The snapshot's schema, format `mongodb-schema/1`: one BSON document
 *
 *   { format: "mongodb-schema/1", db: <source database>,
 *     collections: [ { info: <listCollections entry>, indexes: [<listIndexes entry>, …] }, … ] }
 *
 * where `info` is the server's own listCollections entry (name, type `collection` / `view` /
 * `timeseries`, options: capped, size, max, collation, clusteredIndex, expireAfterSeconds,
 * validator, validationLevel, validationAction, viewOn, pipeline, timeseries, …) and each index
 * its listIndexes entry, as the server's bytes. A snapshot taken with --with-privileges adds
 * `privileges: { users: [<usersInfo entry with credentials>, …], roles: [<rolesInfo entry>, …] }`
 * (internal/users.ts); a reader that does not know the field restores no users.
 */
import {
  asDocument,
  asString,
  buildArray,
  buildDocument,
  el,
  elements,
  field,
  T,
} from './internal/bson-raw.js';
import { decodeUsersAndRoles, encodeUsersAndRoles, type UsersAndRoles } from './internal/users.js';

export const SCHEMA_FORMAT = 'mongodb-schema/1';

export interface CollectionSchema {
  readonly name: string;
  readonly type: string;
  /** The listCollections entry. */
  readonly info: Uint8Array;
  readonly options: Uint8Array | undefined;
  readonly indexes: readonly Uint8Array[];
}

export interface SchemaDocument {
  readonly db: string;
  readonly collections: readonly CollectionSchema[];
  /** The database's users and roles, in a snapshot taken with --with-privileges (internal/users.ts). */
  readonly privileges?: UsersAndRoles;
}

export function collectionOf(info: Uint8Array, indexes: readonly Uint8Array[]): CollectionSchema {
  return {
    name: asString(field(info, 'name')) ?? '',
    type: asString(field(info, 'type')) ?? 'collection',
    info,
    options: asDocument(field(info, 'options')),
    indexes,
  };
}

export function encodeSchema(doc: SchemaDocument): Uint8Array {
  return buildDocument([
    el.string('format', SCHEMA_FORMAT),
    el.string('db', doc.db),
    el.array(
      'collections',
      buildArray(
        doc.collections.map((c) => ({
          type: T.document,
          value: buildDocument([
            el.document('info', c.info),
            el.array('indexes', buildArray(c.indexes.map((i) => ({ type: T.document, value: i })))),
          ]),
        })),
      ),
    ),
    ...(doc.privileges ? [el.document('privileges', encodeUsersAndRoles(doc.privileges))] : []),
  ]);
}

export function decodeSchema(bytes: Uint8Array, format: string): SchemaDocument {
  if (format !== SCHEMA_FORMAT)
    throw new Error(`schema format ${format}; this driver reads ${SCHEMA_FORMAT}`);
  const list = asDocument(field(bytes, 'collections'));
  const collections = [...(list ? elements(list) : [])].map((e) => {
    const info = asDocument(field(e.value, 'info')) ?? buildDocument([]);
    const idx = asDocument(field(e.value, 'indexes'));
    return collectionOf(
      info,
      [...(idx ? elements(idx) : [])].map((i) => i.value),
    );
  });
  const privileges = asDocument(field(bytes, 'privileges'));
  return {
    db: asString(field(bytes, 'db')) ?? '',
    collections,
    ...(privileges ? { privileges: decodeUsersAndRoles(privileges) } : {}),
  };
}
