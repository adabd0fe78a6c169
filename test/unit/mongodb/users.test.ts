/**
 * Users and roles behind --with-privileges, without a server: the documents `usersInfo` (with
 * `showCredentials`) and `rolesInfo` (with `showPrivileges`) return, in the shapes MongoDB
 * documents, become `createRole` commands and `admin.system.users` documents of the target
 * database (references to the source database moved, others kept; roles before the roles that
 * inherit them); what already exists in the target is left alone with one sentence, and no
 * sentence ever carries a credential. The snapshot's schema keeps them.
 */
import { Binary, UUID, type Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { privilegePlan, rolesInOrder } from '../../../drivers/mongodb/internal/users.js';
import { decodeSchema, encodeSchema, SCHEMA_FORMAT } from '../../../drivers/mongodb/schema.js';

const SCRAM = {
  'SCRAM-SHA-1': {
    iterationCount: 10000,
    salt: 'c2FsdHNhbHRzYWx0c2FsdA==',
    storedKey: 'U1RPUkVES0VZU1RPUkVES0VZMQ==',
    serverKey: 'U0VSVkVSS0VZU0VSVkVSS0VZMQ==',
  },
  'SCRAM-SHA-256': {
    iterationCount: 15000,
    salt: 'c2FsdDI1NnNhbHQyNTZzYWx0MjU2',
    storedKey: 'c3RvcmVkS2V5MjU2c3RvcmVkS2V5MjU2c3RvcmVkS2V5',
    serverKey: 'c2VydmVyS2V5MjU2c2VydmVyS2V5MjU2c2VydmVyS2V5',
  },
};

const app: Document = {
  _id: 'crm.app',
  userId: new UUID('0aafbcfa-767e-11e9-bda7-abcaf4112df6').toBinary(),
  user: 'app',
  db: 'crm',
  credentials: SCRAM,
  roles: [
    { role: 'readWrite', db: 'crm' },
    { role: 'crmAuditor', db: 'crm' },
    { role: 'read', db: 'reporting' },
  ],
  customData: { team: 'sales' },
  mechanisms: ['SCRAM-SHA-1', 'SCRAM-SHA-256'],
};

const auditor: Document = {
  _id: 'crm.crmAuditor',
  role: 'crmAuditor',
  db: 'crm',
  privileges: [
    { resource: { db: 'crm', collection: 'audit' }, actions: ['find'] },
    { resource: { cluster: true }, actions: ['serverStatus'] },
  ],
  roles: [
    { role: 'crmReader', db: 'crm' },
    { role: 'read', db: 'reporting' },
  ],
  inheritedRoles: [{ role: 'crmReader', db: 'crm' }],
  inheritedPrivileges: [{ resource: { db: 'crm', collection: '' }, actions: ['find'] }],
  isBuiltin: false,
  authenticationRestrictions: [[{ clientSource: ['10.0.0.0/8'] }]],
};

const reader: Document = {
  _id: 'crm.crmReader',
  role: 'crmReader',
  db: 'crm',
  privileges: [{ resource: { db: 'crm', collection: '' }, actions: ['find', 'listCollections'] }],
  roles: [],
  isBuiltin: false,
};

const none = { users: new Set<string>(), roles: new Set<string>() };
const fixedId = new Binary(Buffer.alloc(16, 1), 4);

describe('users and roles into another database', () => {
  const plan = privilegePlan(
    { users: [app], roles: [auditor, reader] },
    'crm',
    'crm_restored',
    none,
    () => fixedId,
  );

  it('creates each role after the roles of the database it inherits, moved to the target database', () => {
    expect(plan.roles).toEqual([
      {
        createRole: 'crmReader',
        privileges: [
          { resource: { db: 'crm_restored', collection: '' }, actions: ['find', 'listCollections'] },
        ],
        roles: [],
      },
      {
        createRole: 'crmAuditor',
        privileges: [
          { resource: { db: 'crm_restored', collection: 'audit' }, actions: ['find'] },
          { resource: { cluster: true }, actions: ['serverStatus'] },
        ],
        roles: [
          { role: 'crmReader', db: 'crm_restored' },
          { role: 'read', db: 'reporting' },
        ],
        authenticationRestrictions: [{ clientSource: ['10.0.0.0/8'] }],
      },
    ]);
    expect(rolesInOrder([auditor, reader], 'crm').map((r) => r.role)).toEqual(['crmReader', 'crmAuditor']);
  });

  it('inserts each user with its stored credentials under the target database, with a new userId', () => {
    expect(plan.users).toEqual([
      {
        _id: 'crm_restored.app',
        userId: fixedId,
        user: 'app',
        db: 'crm_restored',
        credentials: SCRAM,
        roles: [
          { role: 'readWrite', db: 'crm_restored' },
          { role: 'crmAuditor', db: 'crm_restored' },
          { role: 'read', db: 'reporting' },
        ],
        customData: { team: 'sales' },
      },
    ]);
    expect(plan.notices).toEqual([]);
  });

  it('leaves a user or role that exists in the target as it is, and says so without a credential', () => {
    const p = privilegePlan(
      { users: [app, { user: 'nocreds', db: 'crm', roles: [] }], roles: [auditor, reader] },
      'crm',
      'crm',
      { users: new Set(['app']), roles: new Set(['crmReader']) },
    );
    expect(p.roles.map((r) => r.createRole)).toEqual(['crmAuditor']);
    expect(p.users).toEqual([]);
    expect(p.notices).toEqual([
      "Role crmReader already exists in database crm; it was left as it is, not replaced by the snapshot's.",
      'User app already exists in database crm; it was left as it is (its password and roles were not changed).',
      'User nocreds was not restored: the snapshot holds no credentials for it; create it with db.createUser().',
    ]);
    const text = p.notices.join(' ');
    for (const c of Object.values(SCRAM))
      for (const v of [c.salt, c.storedKey, c.serverKey]) expect(text).not.toContain(v);
  });
});

describe('the schema keeps them', () => {
  it('round-trips users (credentials included) and roles through mongodb-schema/1', () => {
    const bytes = encodeSchema({ db: 'crm', collections: [], privileges: { users: [app], roles: [reader] } });
    const back = decodeSchema(bytes, SCHEMA_FORMAT);
    expect(back.privileges?.users[0]?.credentials).toEqual(SCRAM);
    expect(back.privileges?.roles[0]?.role).toBe('crmReader');
    expect(
      decodeSchema(encodeSchema({ db: 'crm', collections: [] }), SCHEMA_FORMAT).privileges,
    ).toBeUndefined();
  });
});
