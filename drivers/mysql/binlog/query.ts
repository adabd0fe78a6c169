import type { ByteReader } from './reader.js';

/**
 * QUERY (and MariaDB QUERY_COMPRESSED) status variables: the session state the statement ran
 * under. Codes 0–20 are MySQL's (Query_event_status_vars), 128–131 MariaDB's. A code this
 * decoder does not know ends the walk: its length is not written anywhere, and the statement
 * text is found from the status block's total length anyway.
 */

const Q = {
  FLAGS2: 0,
  SQL_MODE: 1,
  CATALOG: 2,
  AUTO_INCREMENT: 3,
  CHARSET: 4,
  TIME_ZONE: 5,
  CATALOG_NZ: 6,
  LC_TIME_NAMES: 7,
  CHARSET_DATABASE: 8,
  TABLE_MAP_FOR_UPDATE: 9,
  MASTER_DATA_WRITTEN: 10,
  INVOKER: 11,
  UPDATED_DB_NAMES: 12,
  MICROSECONDS: 13,
  EXPLICIT_DEFAULTS_FOR_TIMESTAMP: 16,
  DDL_LOGGED_WITH_XID: 17,
  DEFAULT_COLLATION_FOR_UTF8MB4: 18,
  SQL_REQUIRE_PRIMARY_KEY: 19,
  DEFAULT_TABLE_ENCRYPTION: 20,
  MARIADB_HRNOW: 128,
  MARIADB_XID: 129,
  MARIADB_GTID_FLAGS3: 130,
} as const;
/** Q_UPDATED_DB_NAMES count meaning "more databases than listed" (OVER_MAX_DBS_IN_EVENT_MTS). */
const OVER_MAX_DBS = 254;

export interface QueryStatus {
  flags2?: number;
  sqlMode?: bigint;
  catalog?: string;
  autoIncrement?: { increment: number; offset: number };
  charset?: { client: number; connection: number; server: number };
  timeZone?: string;
  lcTimeNames?: number;
  charsetDatabase?: number;
  tableMapForUpdate?: bigint;
  invoker?: { user: string; host: string };
  updatedDatabases?: string[];
  microseconds?: number;
  explicitDefaultsForTimestamp?: boolean;
  ddlXid?: bigint;
  defaultCollationForUtf8mb4?: number;
  sqlRequirePrimaryKey?: boolean;
  defaultTableEncryption?: boolean;
  gtidFlags3?: number;
  /** A status code this decoder does not know; the walk stopped there. */
  unknownStatusCode?: number;
}

export function readQueryStatus(r: ByteReader): QueryStatus {
  const s: QueryStatus = {};
  const str1 = (what: string): string => r.utf8(r.u8(`the length of ${what}`), what);
  while (r.remaining > 0) {
    const code = r.u8('a status variable code');
    switch (code) {
      case Q.FLAGS2:
        s.flags2 = r.u32('flags2');
        break;
      case Q.SQL_MODE:
        s.sqlMode = r.u64('sql_mode');
        break;
      case Q.CATALOG:
        s.catalog = str1('the catalog');
        r.skip(1, 'the zero after the catalog');
        break;
      case Q.AUTO_INCREMENT:
        s.autoIncrement = { increment: r.u16('auto_increment_increment'), offset: r.u16('auto_increment_offset') };
        break;
      case Q.CHARSET:
        s.charset = {
          client: r.u16('character_set_client'),
          connection: r.u16('collation_connection'),
          server: r.u16('collation_server'),
        };
        break;
      case Q.TIME_ZONE:
        s.timeZone = str1('time_zone');
        break;
      case Q.CATALOG_NZ:
        s.catalog = str1('the catalog');
        break;
      case Q.LC_TIME_NAMES:
        s.lcTimeNames = r.u16('lc_time_names');
        break;
      case Q.CHARSET_DATABASE:
        s.charsetDatabase = r.u16('collation_database');
        break;
      case Q.TABLE_MAP_FOR_UPDATE:
        s.tableMapForUpdate = r.u64('the table map for update');
        break;
      case Q.MASTER_DATA_WRITTEN:
        r.skip(4, 'master_data_written');
        break;
      case Q.INVOKER:
        s.invoker = { user: str1('the invoker user'), host: str1('the invoker host') };
        break;
      case Q.UPDATED_DB_NAMES: {
        const n = r.u8('the updated database count');
        s.updatedDatabases = [];
        if (n !== OVER_MAX_DBS) for (let i = 0; i < n; i++) s.updatedDatabases.push(r.zeroTerminated());
        break;
      }
      case Q.MICROSECONDS:
      case Q.MARIADB_HRNOW:
        s.microseconds = r.u24('the microseconds');
        break;
      case Q.EXPLICIT_DEFAULTS_FOR_TIMESTAMP:
        s.explicitDefaultsForTimestamp = r.u8('explicit_defaults_for_timestamp') !== 0;
        break;
      case Q.DDL_LOGGED_WITH_XID:
      case Q.MARIADB_XID:
        s.ddlXid = r.u64('the DDL xid');
        break;
      case Q.DEFAULT_COLLATION_FOR_UTF8MB4:
        s.defaultCollationForUtf8mb4 = r.u16('default_collation_for_utf8mb4');
        break;
      case Q.SQL_REQUIRE_PRIMARY_KEY:
        s.sqlRequirePrimaryKey = r.u8('sql_require_primary_key') !== 0;
        break;
      case Q.DEFAULT_TABLE_ENCRYPTION:
        s.defaultTableEncryption = r.u8('default_table_encryption') !== 0;
        break;
      case Q.MARIADB_GTID_FLAGS3:
        s.gtidFlags3 = r.u8('gtid_flags3');
        break;
      default:
        s.unknownStatusCode = code;
        r.skip(r.remaining, 'unknown status variables');
    }
  }
  return s;
}
