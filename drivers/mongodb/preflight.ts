/**
 * `doctor` for MongoDB: every finding has a stable `mongodb.*` id and, where something is to be
 * done, its fix.
 *
 *   mongodb.version        server version; change streams with expanded events (collection and
 *                          index changes in the log) need 6.0, disambiguatedPaths 6.1
 *   mongodb.topology       a standalone has no change streams (snapshot of a live database and
 *                          stream both need them); a sharded cluster is backed up through mongos
 *                          and restored unsharded
 *   mongodb.oplog_window   hours between the oldest and the newest oplog entry: how long a stream
 *                          may be stopped and still resume, and how long a snapshot may take;
 *                          with a repository (doctor --repo), the stream's last stored position
 *                          against the oldest entry: lost already, or how long it has left
 *   mongodb.privileges     the actions each need asks for, by resource (connectionStatus)
 *   mongodb.collections    collections a change stream cannot see (time-series), system
 *                          collections (not backed up), views (definitions only), sharded ones
 */
import type { MongoClient, Timestamp as BsonTimestamp } from 'mongodb';
import type { Finding, Need } from '../../src/driver/finding.js';
import type { Timestamp } from './internal/bson-raw.js';
import { compareTimestamps, parsePosition } from './internal/position.js';
import type { MongoEndpoint, ServerFacts } from './internal/connection.js';
import { MARKER } from './change-log.js';

const WINDOW_WARN_HOURS = 24;

interface Privilege {
  resource?: { db?: string; collection?: string; cluster?: boolean; anyResource?: boolean };
  actions?: string[];
}

/** The actions `need` asks for, and on which resource (db '' = every database). */
export function requiredActions(
  need: Need,
  db: string,
): Array<{ db: string; collection: string; actions: string[] }> {
  if (need === 'snapshot')
    return [
      { db, collection: '', actions: ['find', 'listCollections', 'listIndexes'] },
      { db: '', collection: '', actions: ['changeStream', 'find'] },
    ];
  if (need === 'stream')
    return [
      { db: '', collection: '', actions: ['changeStream', 'find'] },
      { db: MARKER.db, collection: MARKER.coll, actions: ['insert', 'update', 'remove'] },
    ];
  return [
    {
      db,
      collection: '',
      actions: [
        'find',
        'insert',
        'update',
        'remove',
        'createCollection',
        'createIndex',
        'dropCollection',
        'collMod',
        'listCollections',
        'bypassDocumentValidation',
      ],
    },
  ];
}

function grants(privs: readonly Privilege[], db: string, collection: string, action: string): boolean {
  return privs.some((p) => {
    const r = p.resource ?? {};
    if (!p.actions?.includes(action) && !p.actions?.includes('anyAction')) return false;
    if (r.anyResource) return true;
    const dbOk = r.db === '' || r.db === db;
    const collOk = r.collection === '' || r.collection === collection;
    return r.db !== undefined && dbOk && collOk;
  });
}

export async function preflight(
  client: MongoClient,
  ep: MongoEndpoint,
  facts: ServerFacts,
  need: Need,
  storedPosition?: string,
): Promise<Finding[]> {
  const out: Finding[] = [];
  const v = facts.versionNumber;
  if (need !== 'restore') {
    if (v < 60000)
      out.push({
        id: 'mongodb.version',
        severity: need === 'stream' ? 'error' : 'warning',
        message: `MongoDB ${facts.version} has no expanded change events (6.0+), so created collections, index changes and collMod would be missing from the log.`,
        fix: 'Upgrade the server to MongoDB 6.0 or later (6.1+ to tell dotted field names in updates apart).',
      });
    else if (v < 60100)
      out.push({
        id: 'mongodb.version',
        severity: 'warning',
        message: `MongoDB ${facts.version} sends no disambiguatedPaths, so an update of a field whose name contains a dot is replayed as a nested path.`,
        fix: 'Upgrade to MongoDB 6.1 or later if documents have field names with dots.',
      });
    else out.push({ id: 'mongodb.version', severity: 'ok', message: `MongoDB ${facts.version}.` });
    if (facts.topology === 'standalone')
      out.push({
        id: 'mongodb.topology',
        severity: 'error',
        message: `${ep.display} is a standalone server, which has no change streams (a consistent snapshot and the stream both need them).`,
        fix: 'Run it as a replica set; a single-node one will do: start mongod with --replSet rs0 and run rs.initiate().',
      });
    else if (facts.topology === 'sharded')
      out.push({
        id: 'mongodb.topology',
        severity: 'warning',
        message: `${ep.display} is a sharded cluster (mongos): collections are backed up and restored unsharded, and shard keys are not recreated.`,
        fix: 'Shard the restored collections again with sh.shardCollection() where needed.',
      });
    else out.push({ id: 'mongodb.topology', severity: 'ok', message: `Replica set ${facts.setName ?? ''}.` });
    if (facts.topology === 'replicaSet') out.push(await oplogWindow(client, storedPosition));
  }
  out.push(await privileges(client, ep, need));
  if (need !== 'restore') out.push(...(await collections(client, ep, facts)));
  return out;
}

async function oplogWindow(client: MongoClient, storedPosition: string | undefined): Promise<Finding> {
  let oldest: Timestamp | undefined;
  let newest: Timestamp | undefined;
  let now: number;
  try {
    const oplog = client.db('local').collection<{ ts: BsonTimestamp }>('oplog.rs');
    const ts = async (order: 1 | -1): Promise<Timestamp | undefined> => {
      const [d] = await oplog
        .find({}, { projection: { ts: 1 } })
        .sort({ $natural: order })
        .limit(1)
        .toArray();
      return d?.ts ? { t: d.ts.high >>> 0, i: d.ts.low >>> 0 } : undefined;
    };
    oldest = await ts(1);
    newest = await ts(-1);
    const hello = await client.db('admin').command({ hello: 1 });
    now = hello.localTime instanceof Date ? hello.localTime.getTime() / 1000 : Date.now() / 1000;
  } catch {
    return {
      id: 'mongodb.oplog_window',
      severity: 'info',
      message: 'The oplog window could not be read (no read access to local.oplog.rs).',
      fix: 'Grant read on database local (the clusterMonitor role) to see it.',
    };
  }
  if (!oldest || !newest)
    return { id: 'mongodb.oplog_window', severity: 'info', message: 'The oplog is empty.' };
  const stored = storedPosition === undefined ? undefined : parsePosition(storedPosition).ts;
  return oplogFinding({ oldest, newest, now }, stored);
}

const iso = (seconds: number): string => new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
const hoursOf = (seconds: number): string => (seconds / 3600).toFixed(1);

/**
 * The oplog window (its `oldest` and `newest` entries; `now` in seconds, the server's clock),
 * compared, when the repository stores one, with the stream's last stored position: the stream
 * resumes from there only while the oplog still holds it. At the present write rate the oldest
 * entry moves on as fast as the clock, so the stored point has about (stored - oldest) left.
 */
export function oplogFinding(
  o: { readonly oldest: Timestamp; readonly newest: Timestamp; readonly now: number },
  stored?: Timestamp,
): Finding {
  const window = o.newest.t - o.oldest.t;
  const held = `The oplog holds ${hoursOf(window)} hours of changes (since ${iso(o.oldest.t)})`;
  const resize = `replSetResizeOplog with minRetentionHours, or a larger oplogSizeMB`;
  if (stored) {
    const at = `${stored.t}.${stored.i} (${iso(stored.t)})`;
    if (compareTimestamps(stored, o.oldest) < 0)
      return {
        id: 'mongodb.oplog_window',
        severity: 'warning',
        message: `${held}, and the stream's last stored position ${at} is older than that: the changes in between are lost to the log, so the stream's next start records a gap and restores into it are refused.`,
        fix: `Start the stream and take a snapshot right after it; keep the oplog longer than the stream may be stopped (${resize}).`,
      };
    const left = stored.t - o.oldest.t;
    const age = Math.max(0, o.now - stored.t);
    const text = `${held}; the stream's last stored position ${at} is ${hoursOf(age)} hours old and leaves the oplog in about ${hoursOf(left)} hours at the present write rate, after which a stopped stream cannot resume without a gap.`;
    return left < Math.max(3600, window / 4)
      ? {
          id: 'mongodb.oplog_window',
          severity: 'warning',
          message: text,
          fix: `Start the stream now if it is stopped, and make the oplog hold more (${resize}).`,
        }
      : { id: 'mongodb.oplog_window', severity: 'ok', message: text };
  }
  const text = `${held}: a stream stopped longer than that, or a snapshot taking longer, loses its resume point.`;
  return window < WINDOW_WARN_HOURS * 3600
    ? {
        id: 'mongodb.oplog_window',
        severity: 'warning',
        message: text,
        fix: `Make the oplog hold at least ${WINDOW_WARN_HOURS} hours (${resize}).`,
      }
    : { id: 'mongodb.oplog_window', severity: 'ok', message: text };
}

async function privileges(client: MongoClient, ep: MongoEndpoint, need: Need): Promise<Finding> {
  const status = await client.db('admin').command({ connectionStatus: 1, showPrivileges: true });
  const info = status.authInfo as
    { authenticatedUsers?: unknown[]; authenticatedUserPrivileges?: Privilege[] } | undefined;
  if (!info?.authenticatedUsers?.length)
    return {
      id: 'mongodb.privileges',
      severity: 'ok',
      message: 'Access control is off or the connection is not authenticated; nothing to check.',
    };
  const privs = info.authenticatedUserPrivileges ?? [];
  const missing: string[] = [];
  for (const r of requiredActions(need, ep.database))
    for (const a of r.actions)
      if (!grants(privs, r.db, r.collection, a))
        missing.push(
          `${a} on ${r.db === '' ? 'every database' : r.collection ? `${r.db}.${r.collection}` : `database ${r.db}`}`,
        );
  if (!missing.length)
    return {
      id: 'mongodb.privileges',
      severity: 'ok',
      message: `The user has every privilege ${need} needs.`,
    };
  const fix =
    need === 'restore'
      ? `Grant the restore role or readWrite plus dbAdmin on database ${ep.database} (and bypassDocumentValidation).`
      : need === 'stream'
        ? `Grant the read role on every database (readAnyDatabase) for the change stream, and readWrite on database ${MARKER.db} for the idle markers.`
        : 'Grant the backup role (or readAnyDatabase, which includes the change stream the snapshot reads).';
  return {
    id: 'mongodb.privileges',
    severity: need === 'stream' && missing.every((m) => m.includes(MARKER.db)) ? 'warning' : 'error',
    message: `The user lacks ${missing.join(', ')}.`,
    fix,
  };
}

async function collections(client: MongoClient, ep: MongoEndpoint, facts: ServerFacts): Promise<Finding[]> {
  const out: Finding[] = [];
  const list = await client.db(ep.database).listCollections({}, { nameOnly: false }).toArray();
  const timeseries = list.filter((c) => c.type === 'timeseries').map((c) => c.name);
  const views = list.filter((c) => c.type === 'view').map((c) => c.name);
  const system = list.filter((c) => c.name.startsWith('system.') && c.type !== 'view').map((c) => c.name);
  if (timeseries.length)
    out.push({
      id: 'mongodb.collections',
      subject: 'timeseries',
      severity: 'warning',
      message: `Time-series collections ${timeseries.join(', ')} are in snapshots, but change streams do not report their writes, so a restore to a point in time gives them as of the snapshot.`,
      fix: 'Take snapshots often enough for these collections, or keep their data in ordinary collections.',
    });
  if (views.length)
    out.push({
      id: 'mongodb.collections',
      subject: 'views',
      severity: 'info',
      message: `Views ${views.join(', ')} are restored as definitions (they hold no documents).`,
    });
  if (system.length)
    out.push({
      id: 'mongodb.collections',
      subject: 'system',
      severity: 'info',
      message: `System collections ${system.join(', ')} are not backed up (users and roles are not restored by this version).`,
    });
  if (facts.topology === 'sharded') {
    const sharded = await client
      .db('config')
      .collection('collections')
      .find({ _id: { $regex: `^${ep.database.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.` } as never })
      .toArray()
      .catch(() => []);
    if (sharded.length)
      out.push({
        id: 'mongodb.collections',
        subject: 'sharded',
        severity: 'warning',
        message: `Sharded collections ${sharded.map((c) => String(c._id)).join(', ')} are backed up through mongos and restored unsharded.`,
        fix: 'Shard them again after a restore.',
      });
  }
  if (!out.length)
    out.push({
      id: 'mongodb.collections',
      severity: 'ok',
      message: `${list.length} collections, none needing attention.`,
    });
  return out;
}
