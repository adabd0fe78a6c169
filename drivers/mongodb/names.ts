/**
 * `--tables` for MongoDB, ahead of the driver itself. A source is one database, so the driver is
 * to write a collection's name alone, without the database (`events.2026`, not
 * `crm.events.2026`). A collection name may contain dots, so what a user types is never split:
 * each entry is one whole collection name, compared exactly.
 */
import type { TableNames } from '../../src/driver/table-names.js';
import { UsageError } from '../../src/util/errors.js';

/** The name of a snapshot's change tail stream (snapshot.ts); `$` cannot be in a collection name. */
export const TAIL_STREAM = '$changes';

export const tableNames: TableNames = {
  matcher(wanted) {
    for (const w of wanted)
      if (w === '' || w.includes('$') || w.includes('\0'))
        throw new UsageError(
          `--tables: ${JSON.stringify(w)} is not a MongoDB collection name (it is empty or holds "$" or a NUL).`,
        );
    const set = new Set(wanted);
    return (collection) => set.has(collection);
  },
  // the tail holds the changes made while the collections were read: any subset needs it
  partOfEverySelection: (table) => table === TAIL_STREAM,
};
