/**
 * The users and roles of the source database, in a snapshot taken with `--with-privileges`, and
 * how a restore puts them back into the target database.
 *
 * Snapshot: `usersInfo` with `showCredentials: true` (the users' SCRAM salts and keys, never their
 * passwords, which the server does not hold; asked for only under the flag) and `rolesInfo` with
 * `showPrivileges: true`, both for the source database alone, stored in the snapshot's schema
 * (encrypted in the repository like every stream; never in the manifest, never printed).
 *
 * Restore, after the data: roles first (a user may hold them), each with `createRole`, its
 * privileges and inherited roles moved from the source database to the target one (a role that
 * inherits another of the database waits for it: rounds, as views do); then the users. A user
 * cannot be given stored credentials through `createUser`, which takes a password, so a user is
 * inserted into `admin.system.users` as `mongorestore --restoreDbUsersAndRoles` ends up doing (the
 * `restore` role grants it), under a new `userId`, its roles moved to the target database. A user
 * or role that already exists in the target database is left as it is, and the restore says so.
 * Messages name users and roles only: never a credential.
 */
import type { Binary } from 'mongodb';
import { BSON, UUID, type Document } from 'mongodb';

/** What `usersInfo`/`rolesInfo` returned, as the server's documents. */
export interface UsersAndRoles {
  readonly users: readonly Document[];
  readonly roles: readonly Document[];
}

/** The users of the database the command runs on, with their credentials (under the flag only). */
export const USERS_INFO: Document = {
  usersInfo: 1,
  showCredentials: true,
  showCustomData: true,
  showAuthenticationRestrictions: true,
};

/** The user-defined roles of the database the command runs on, with their privileges. */
export const ROLES_INFO: Document = {
  rolesInfo: 1,
  showPrivileges: true,
  showBuiltinRoles: false,
  showAuthenticationRestrictions: true,
};

/** `{ role, db }` references moved from `from` to `to`; references to other databases kept. */
function movedRoles(roles: unknown, from: string, to: string): Document[] {
  return (Array.isArray(roles) ? (roles as Document[]) : []).map((r) =>
    r.db === from ? { role: r.role, db: to } : { role: r.role, db: r.db },
  );
}

/** A privilege's resource moved from database `from` to `to` (cluster and other databases kept). */
function movedPrivileges(privs: unknown, from: string, to: string): Document[] {
  return (Array.isArray(privs) ? (privs as Document[]) : []).map((p) => {
    const res = (p.resource ?? {}) as Document;
    return { resource: res.db === from ? { ...res, db: to } : res, actions: p.actions };
  });
}

/** The `createRole` command that makes role `info` (a rolesInfo entry of `from`) in database `to`. */
export function createRoleCommand(info: Document, from: string, to: string): Document {
  const cmd: Document = {
    createRole: String(info.role),
    privileges: movedPrivileges(info.privileges, from, to),
    roles: movedRoles(info.roles, from, to),
  };
  if (Array.isArray(info.authenticationRestrictions) && info.authenticationRestrictions.length)
    cmd.authenticationRestrictions = (info.authenticationRestrictions as unknown[]).flat();
  return cmd;
}

/**
 * The `admin.system.users` document of user `info` (a usersInfo entry of `from`, with its
 * credentials) in database `to`; undefined when the entry holds no credentials.
 */
export function userDocument(info: Document, from: string, to: string, userId: Binary): Document | undefined {
  const credentials = info.credentials as Document | undefined;
  if (!credentials || Object.keys(credentials).length === 0) return undefined;
  const user = String(info.user);
  const doc: Document = {
    _id: `${to}.${user}`,
    userId,
    user,
    db: to,
    credentials,
    roles: movedRoles(info.roles, from, to),
  };
  if (info.customData !== undefined) doc.customData = info.customData;
  if (Array.isArray(info.authenticationRestrictions) && info.authenticationRestrictions.length)
    doc.authenticationRestrictions = info.authenticationRestrictions;
  return doc;
}

/** Roles in an order that creates each after the roles of the same database it inherits. */
export function rolesInOrder(roles: readonly Document[], from: string): Document[] {
  const names = new Set(roles.map((r) => String(r.role)));
  const done = new Set<string>();
  const out: Document[] = [];
  let pending = [...roles];
  while (pending.length) {
    const ready = pending.filter((r) =>
      movedRoles(r.roles, from, from).every(
        (p) => p.db !== from || !names.has(String(p.role)) || done.has(String(p.role)),
      ),
    );
    // a cycle cannot be created on a server; should one be stored, the rest go in stored order
    const next = ready.length ? ready : pending;
    for (const r of next) {
      out.push(r);
      done.add(String(r.role));
    }
    pending = pending.filter((r) => !next.includes(r));
  }
  return out;
}

export interface PrivilegePlan {
  readonly roles: readonly Document[];
  readonly users: readonly Document[];
  /** One sentence each, naming users and roles only. */
  readonly notices: readonly string[];
}

/**
 * What to create in database `to` for the stored users and roles of `from`, given the names that
 * already exist there: those are left as they are, each with a notice.
 */
export function privilegePlan(
  stored: UsersAndRoles,
  from: string,
  to: string,
  existing: { readonly users: ReadonlySet<string>; readonly roles: ReadonlySet<string> },
  newId: () => Binary = () => new UUID().toBinary(),
): PrivilegePlan {
  const notices: string[] = [];
  const roles: Document[] = [];
  for (const r of rolesInOrder(stored.roles, from)) {
    const name = String(r.role);
    if (existing.roles.has(name))
      notices.push(
        `Role ${name} already exists in database ${to}; it was left as it is, not replaced by the snapshot's.`,
      );
    else roles.push(createRoleCommand(r, from, to));
  }
  const users: Document[] = [];
  for (const u of stored.users) {
    const name = String(u.user);
    if (existing.users.has(name)) {
      notices.push(
        `User ${name} already exists in database ${to}; it was left as it is (its password and roles were not changed).`,
      );
      continue;
    }
    const doc = userDocument(u, from, to, newId());
    if (doc) users.push(doc);
    else
      notices.push(
        `User ${name} was not restored: the snapshot holds no credentials for it; create it with db.createUser().`,
      );
  }
  return { roles, users, notices };
}

/** The stored form: `{ users: [...], roles: [...] }` as BSON, kept in the schema. */
export function encodeUsersAndRoles(u: UsersAndRoles): Uint8Array {
  return BSON.serialize({ users: u.users, roles: u.roles });
}

export function decodeUsersAndRoles(bytes: Uint8Array): UsersAndRoles {
  const d = BSON.deserialize(bytes);
  return { users: (d.users as Document[]) ?? [], roles: (d.roles as Document[]) ?? [] };
}
