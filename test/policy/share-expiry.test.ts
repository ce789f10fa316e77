// A share with an expiry counts until that moment and not after, judged when the request is decided: hub-guard
// reads the hub DB every few seconds at best, and a share expiring between two reads must stop at its expiry.
// (The hub itself honours expired shares until its hourly purge; hub-guard is stricter on purpose.)
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolveAccess, type ShareRow } from '../../src/hubdb/access.js';
import type { HubSnapshot, HubUser } from '../../src/hubdb/snapshot.js';
import { UsersIndex } from '../../src/identity/users-index.js';
import { SCOPES_WITH_SHARING } from '../../src/jupyterhub/scopes.js';
import { decide, decideResponse, mayAccess, type Identity } from '../../src/policy/decide.js';

const EXPIRY = Date.UTC(2030, 5, 1, 12, 0, 0);
const users: HubUser[] = [
  { id: 1, name: 'alice', admin: false, cookieId: null, created: null },
  { id: 2, name: 'bob', admin: false, cookieId: null, created: null },
];
const bob: Identity = { kind: 'user', name: 'bob', id: 2, source: 'session' };
const share = (expiresAt: number | null, serverName = ''): ShareRow => ({
  userId: 2, groupId: null, ownerId: 1, serverOwnerId: 1, serverName, scopes: [`access:servers!server=alice/${serverName}`], expiresAt,
});

/** The users index after one read of a DB holding these shares. */
function indexOf(shares: ShareRow[]): UsersIndex {
  const { access, groups } = resolveAccess(users, { roles: new Map(), groupNames: new Map(), userRoles: [], groupRoles: [], userGroups: [], shares }, SCOPES_WITH_SHARING);
  const s: HubSnapshot = { takenAt: EXPIRY - 60_000, tables: [], alembicVersion: '4621fec11365', users, cookieIdConstraint: null, access, groups, apiTokens: 0 };
  const index = new UsersIndex(Buffer.alloc(32));
  index.update(s);
  return index;
}

const request = (index: UsersIndex, now: number | undefined, serverName = '') => decide({
  route: { prefix: '/user/alice', owner: 'alice', serverName }, identity: bob, operator: false,
  grant: index.grant('bob'), ownerGroups: index.groupsOf('alice'), now,
}, { allowRunningServers: false, adminAccess: true }).action;

const redirect = (index: UsersIndex, now: number | undefined) => decideResponse({
  identity: bob, redirectInto: { owner: 'alice', server: '', grant: index.grant('bob'), ownerGroups: index.groupsOf('alice') }, now,
}, { adminAccess: true }).action;

describe('shares with an expiry', () => {
  test('one read, then decisions on either side of the expiry: allowed before, refused at and after', () => {
    const index = indexOf([share(EXPIRY)]);
    const at: Array<[number, 'allow' | 'block']> = [
      [EXPIRY - 60_000, 'allow'], [EXPIRY - 1, 'allow'], [EXPIRY, 'block'], [EXPIRY + 1, 'block'], [EXPIRY + 3_600_000, 'block'],
    ];
    for (const [now, expected] of at) {
      assert.equal(request(index, now), expected, `request at expiry ${now - EXPIRY} ms`);
      assert.equal(redirect(index, now), expected, `redirect at expiry ${now - EXPIRY} ms`);
    }
  });

  test('a share already expired when the DB was read grants nothing', () => {
    const index = indexOf([share(EXPIRY - 86_400_000)]);
    assert.equal(request(index, EXPIRY - 60_000), 'block');
  });

  test('without a clock an expiring share opens nothing; a share without expiry needs none', () => {
    assert.equal(request(indexOf([share(EXPIRY)]), undefined), 'block');
    assert.equal(redirect(indexOf([share(EXPIRY)]), undefined), 'block');
    assert.equal(request(indexOf([share(null)]), undefined), 'allow');
    assert.equal(request(indexOf([share(null)]), EXPIRY * 10), 'allow');
  });

  test('an expiring share of alice/gpu opens that server only, and only until its expiry', () => {
    const index = indexOf([share(EXPIRY, 'gpu')]);
    assert.equal(request(index, EXPIRY - 1, 'gpu'), 'allow');
    assert.equal(request(index, EXPIRY - 1, ''), 'block');
    assert.equal(request(index, EXPIRY, 'gpu'), 'block');
  });

  test('mayAccess: the expiry belongs to its server, and a role grant does not expire with a share', () => {
    const grant = { all: false, users: [], groups: [], servers: [], expiring: [{ server: 'alice/', expiresAt: EXPIRY }] };
    assert.equal(mayAccess(grant, 'alice', '', undefined, true, EXPIRY - 1), true);
    assert.equal(mayAccess(grant, 'alice', 'gpu', undefined, true, EXPIRY - 1), false);
    assert.equal(mayAccess(grant, 'carol', '', undefined, true, EXPIRY - 1), false);
    assert.equal(mayAccess({ ...grant, users: ['alice'] }, 'alice', '', undefined, true, EXPIRY + 1), true);
    assert.equal(mayAccess({ ...grant, expiring: [{ server: 'alice/', expiresAt: NaN }] }, 'alice', '', undefined, true, 0), false);
  });
});
