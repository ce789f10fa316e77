import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseScopes, resolveAccess, type AccessTables, type ShareRow } from '../../src/hubdb/access.js';
import type { HubUser } from '../../src/hubdb/snapshot.js';
import { RELEASE_HEADS } from '../../src/jupyterhub/releases.js';
import { SCOPES_BEFORE_SHARING, SCOPES_WITH_SHARING, scopeTreeFor, serverAccessOf, type ScopeTree } from '../../src/jupyterhub/scopes.js';
import { mayAccess } from '../../src/policy/decide.js';

const u = (id: number, name: string, admin = false): HubUser => ({ id, name, admin, cookieId: null, created: null });

function tables(t: Partial<AccessTables>): AccessTables {
  return { roles: new Map(), groupNames: new Map(), userRoles: [], groupRoles: [], userGroups: [], ...t };
}

describe('parseScopes', () => {
  const cases: Array<[unknown, string[]]> = [
    ['["self"]', ['self']],
    ['["access:servers", "read:users"]', ['access:servers', 'read:users']],
    ['[]', []],
    ['not json', []],
    ['{"a": 1}', []],
    ['["ok", 3, null]', ['ok']],
    [null, []],
  ];
  for (const [input, expected] of cases) test(JSON.stringify(input), () => assert.deepEqual(parseScopes(input), expected));
});

describe('resolveAccess', () => {
  test('users.admin alone means access to every server', () => {
    assert.deepEqual(Object.fromEntries(resolveAccess([u(1, 'ann', true), u(2, 'bob')], tables({})).access), {
      ann: { all: true, users: [], groups: [], servers: [] },
    });
  });

  test('direct roles, group roles and every filter kind, merged, sorted and deduplicated', () => {
    const r = resolveAccess([u(1, 'ann'), u(2, 'bob'), u(3, 'cy')], tables({
      roles: new Map([
        [1, ['access:servers!user=zed', 'access:servers!server=bob/gpu', 'admin:servers', 'servers']],
        [2, ['access:servers!group=lab', 'access:servers!user=zed', 'access:servers!user=amy']],
        [3, ['self', 'access:servers!user', 'users:activity!user']],
      ]),
      groupNames: new Map([[10, 'lab'], [11, 'staff']]),
      userRoles: [[1, 1], [3, 3]],
      groupRoles: [[11, 2]],
      userGroups: [[1, 11], [2, 10], [1, 10]],
    }));
    assert.deepEqual(Object.fromEntries(r.access), { ann: { all: false, users: ['amy', 'zed'], groups: ['lab'], servers: ['bob/gpu'] } });
    assert.deepEqual(Object.fromEntries(r.groups), { ann: ['lab', 'staff'], bob: ['lab'] });
  });

  test('an unfiltered access:servers (the admin role) wins over filters', () => {
    const r = resolveAccess([u(1, 'ann')], tables({
      roles: new Map([[1, ['access:servers!user=bob']], [2, ['admin-ui', 'access:servers']]]),
      userRoles: [[1, 1], [1, 2]],
    }));
    assert.deepEqual(Object.fromEntries(r.access), { ann: { all: true, users: [], groups: [], servers: [] } });
  });

  test('map rows that point at missing roles or groups grant nothing', () => {
    const r = resolveAccess([u(1, 'ann')], tables({ userRoles: [[1, 99]], userGroups: [[1, 98]], groupRoles: [[98, 97]] }));
    assert.deepEqual(r, { access: new Map(), groups: new Map() });
  });

  test('a user called __proto__ becomes a key, not a prototype', () => {
    const r = resolveAccess([u(1, '__proto__', true)], tables({ groupNames: new Map([[1, 'g']]), userGroups: [[1, 1]] }));
    assert.deepEqual([...r.access.keys()], ['__proto__']);
    assert.deepEqual([...r.groups.keys()], ['__proto__']);
  });

  test('a user called constructor who holds nothing has no grant and no groups', () => {
    const r = resolveAccess([u(1, 'constructor'), u(2, 'valueOf')], tables({}));
    assert.equal(r.access.get('constructor'), undefined);
    assert.equal(r.groups.get('valueOf'), undefined);
  });
});

// Which servers of others one scope opens for its holder `vic`, on each release line's scope definitions. alice is
// in group lab; bob is in no group. Targets: alice's default server, her named server gpu, bob's default server.
describe('the scope tree, per release line', () => {
  const TARGETS = [['alice', ''], ['alice', 'gpu'], ['bob', '']] as const;
  const ALICE = ['alice/', 'alice/gpu'];
  const ALL = ['alice/', 'alice/gpu', 'bob/'];
  const ADMIN_5_5_1 = ['admin-ui', 'admin:users', 'admin:servers', 'admin:services', 'tokens', 'admin:groups', 'list:services', 'read:services',
    'read:hub', 'proxy', 'shutdown', 'access:services', 'access:servers', 'read:roles', 'read:metrics', 'shares'];
  const ADMIN_3_0 = ADMIN_5_5_1.filter((s) => s !== 'admin:services' && s !== 'shares');

  /** scopes of vic's one role → what it opens on 3.0's tree and on 5.5.1's. */
  const rows: Array<[string[], { '3.0': string[]; '5.5.1': string[] }]> = [
    [['access:servers'], { '3.0': ALL, '5.5.1': ALL }],
    [ADMIN_3_0, { '3.0': ALL, '5.5.1': ALL }],
    [ADMIN_5_5_1, { '3.0': ALL, '5.5.1': ALL }],
    [['access:servers!user=alice'], { '3.0': ALICE, '5.5.1': ALICE }],
    [['access:servers!server=alice/'], { '3.0': ['alice/'], '5.5.1': ['alice/'] }],
    [['access:servers!server=alice/gpu'], { '3.0': ['alice/gpu'], '5.5.1': ['alice/gpu'] }],
    [['access:servers!group=lab'], { '3.0': ALICE, '5.5.1': ALICE }],
    [['shares'], { '3.0': [], '5.5.1': ALL }],
    [['shares!user=alice'], { '3.0': [], '5.5.1': ALICE }],
    [['shares!server=alice/gpu'], { '3.0': [], '5.5.1': ['alice/gpu'] }],
    [['shares!group=lab'], { '3.0': [], '5.5.1': ALICE }],
    // the docs' sharing recipe for the user role: each user shares their own servers, nobody else's
    [['self', 'shares!user', 'read:users:name', 'read:groups:name'], { '3.0': [], '5.5.1': [] }],
    [['access:servers!user'], { '3.0': [], '5.5.1': [] }],
    [['access:servers!server'], { '3.0': [], '5.5.1': [] }],
    [['users:activity!user', 'access:servers!server'], { '3.0': [], '5.5.1': [] }],
    [['access:servers!user='], { '3.0': [], '5.5.1': [] }],
    [['access:servers!service=alice', 'access:services'], { '3.0': [], '5.5.1': [] }],
    [['admin:servers', 'servers', 'admin:users', 'users', 'inherit', 'tokens', 'admin:groups'], { '3.0': [], '5.5.1': [] }],
    [['admin:servers!user=alice', 'servers!server=alice/', 'delete:servers!user=alice'], { '3.0': [], '5.5.1': [] }],
    [['read:shares', 'users:shares', 'groups:shares', 'read:users:shares!user=alice'], { '3.0': [], '5.5.1': [] }],
    [['custom:alice', 'custom:access:servers', 'access:servers:x', 'Access:Servers', ' access:servers'], { '3.0': [], '5.5.1': [] }],
  ];
  const trees = { '3.0': SCOPES_BEFORE_SHARING, '5.5.1': SCOPES_WITH_SHARING } as const;

  for (const [scopes, expected] of rows) {
    for (const release of ['3.0', '5.5.1'] as const) {
      test(`${release}: ${scopes.join(' ')} → ${expected[release].join(' ') || 'nothing'}`, () => {
        const { access, groups } = resolveAccess([u(1, 'vic'), u(2, 'alice'), u(3, 'bob')], tables({
          roles: new Map([[1, scopes]]), userRoles: [[1, 1]], groupNames: new Map([[1, 'lab']]), userGroups: [[2, 1]],
        }), trees[release]);
        const opens = TARGETS.filter(([owner, server]) => mayAccess(access.get('vic'), owner, server, groups.get(owner), true, 0))
          .map(([owner, server]) => `${owner}/${server}`);
        assert.deepEqual(opens, expected[release]);
      });
    }
  }

  test('the scopes that are or include access:servers', () => {
    assert.deepEqual([...SCOPES_BEFORE_SHARING.opensServers].sort(), ['access:servers']);
    assert.deepEqual([...SCOPES_WITH_SHARING.opensServers].sort(), ['access:servers', 'shares']);
    assert.equal(SCOPES_BEFORE_SHARING.sharing, false);
    assert.equal(SCOPES_WITH_SHARING.sharing, true);
  });

  test('filters are read as the hub writes them: one per string, the name after the first "="', () => {
    assert.deepEqual(serverAccessOf(SCOPES_WITH_SHARING, 'shares!user=a!b=c'), { to: 'user', name: 'a!b=c' });
    assert.deepEqual(serverAccessOf(SCOPES_WITH_SHARING, 'access:servers!server=alice/'), { to: 'server', name: 'alice/' });
    assert.equal(serverAccessOf(SCOPES_WITH_SHARING, 'access:servers!user'), undefined);
    assert.equal(serverAccessOf(SCOPES_WITH_SHARING, 'access:servers!gruop=lab'), undefined);
    assert.equal(serverAccessOf(SCOPES_BEFORE_SHARING, 'shares!user=alice'), undefined);
  });
});

describe('scopeTreeFor: the release line from the alembic revision, else from the shares table', () => {
  const cases: Array<[string | null, boolean, ScopeTree]> = [
    ...RELEASE_HEADS.flatMap(({ release, head }): Array<[string, boolean, ScopeTree]> => {
      const tree = release === '5.x' || release === '6.0b' ? SCOPES_WITH_SHARING : SCOPES_BEFORE_SHARING;
      return [[head, false, tree], [head, true, tree]];
    }),
    ['3c2384c5aae1', false, SCOPES_WITH_SHARING], // 5.0's first revision, an upgrade stopped halfway
    ['ff1860e38070', false, SCOPES_WITH_SHARING], // a 6.0 beta's
    ['af4cbdb2d13c', true, SCOPES_BEFORE_SHARING], // 0.7
    [null, false, SCOPES_BEFORE_SHARING],
    [null, true, SCOPES_WITH_SHARING],
    ['0123456789ab', false, SCOPES_BEFORE_SHARING],
    ['0123456789ab', true, SCOPES_WITH_SHARING],
    ['0eee8c825d24,4621fec11365', true, SCOPES_WITH_SHARING],
  ];
  for (const [version, hasShares, expected] of cases) {
    test(`${version ?? 'no revision'}${hasShares ? ' with' : ' without'} a shares table → ${expected.releases}`, () => {
      assert.equal(scopeTreeFor(version, hasShares), expected);
    });
  }
});

describe('resolveAccess with shares (5.x)', () => {
  const users = [u(1, 'alice'), u(2, 'bob'), u(3, 'carol'), u(4, 'dan'), u(5, '__proto__')];
  const share = (r: Partial<ShareRow>): ShareRow => ({
    userId: 2, groupId: null, ownerId: 1, serverOwnerId: 1, serverName: '', scopes: ['access:servers!server=alice/'], expiresAt: null, ...r,
  });
  const resolve = (shares: ShareRow[], extra: Partial<AccessTables> = {}, tree: ScopeTree = SCOPES_WITH_SHARING) =>
    Object.fromEntries(resolveAccess(users, tables({ groupNames: new Map([[1, 'team']]), userGroups: [[3, 1], [4, 1]], shares, ...extra }), tree).access);
  const servers = (...s: string[]) => ({ all: false, users: [], groups: [], servers: s });

  test('a share to a user opens exactly that server for that user', () => {
    assert.deepEqual(resolve([share({})]), { bob: servers('alice/') });
  });

  test('a share to a group opens it for every member, and only them', () => {
    assert.deepEqual(resolve([share({ userId: null, groupId: 1 })]), { carol: servers('alice/'), dan: servers('alice/') });
  });

  test("a share of alice/gpu opens only that named server; `shares!server=` counts as access", () => {
    assert.deepEqual(resolve([share({ serverName: 'gpu', scopes: ['shares!server=alice/gpu'] })]), { bob: servers('alice/gpu') });
  });

  test('on 3.0–4.x scope definitions shares grant nothing', () => {
    assert.deepEqual(resolve([share({})], {}, SCOPES_BEFORE_SHARING), {});
  });

  test('shares merge with roles; an admin stays "all"', () => {
    assert.deepEqual(resolve([share({}), share({ userId: 3, serverName: 'gpu', scopes: ['access:servers!server=alice/gpu'] })], {
      roles: new Map([[1, ['access:servers!user=dan']], [2, ['access:servers']]]), userRoles: [[2, 1], [3, 2]],
    }), { bob: { all: false, users: ['dan'], groups: [], servers: ['alice/'] }, carol: { all: true, users: [], groups: [], servers: [] } });
  });

  test('rows the hub would not write open nothing', () => {
    const junk: Array<Partial<ShareRow>> = [
      { scopes: [] },
      { scopes: ['servers!server=alice/', 'read:shares!server=alice/'] },
      { scopes: ['access:servers!server=bob/'] },
      { scopes: ['access:servers', 'access:servers!user=alice', 'shares'] },
      { scopes: ['access:servers!server=alice/gpu'] },
      { userId: null },
      { groupId: 1 },
      { userId: 99 },
      { userId: null, groupId: 98 },
      { ownerId: null },
      { ownerId: 2 },
      { serverOwnerId: null, ownerId: null },
      { serverOwnerId: 77, ownerId: 77 },
      { serverName: null },
      { expiresAt: NaN },
    ];
    for (const j of junk) assert.deepEqual(resolve([share(j)]), {}, JSON.stringify(j));
  });

  test("a share to the server's owner is not listed (own servers are always open)", () => {
    assert.deepEqual(resolve([share({ userId: 1 })]), {});
  });

  test('a share with an expiry is carried with it; the latest of several counts, one without expiry wins', () => {
    assert.deepEqual(resolve([share({ expiresAt: 2000 }), share({ expiresAt: 1000 })]), {
      bob: { all: false, users: [], groups: [], servers: [], expiring: [{ server: 'alice/', expiresAt: 2000 }] },
    });
    assert.deepEqual(resolve([share({ expiresAt: 2000 }), share({ expiresAt: null })]), { bob: servers('alice/') });
    assert.deepEqual(resolve([share({ expiresAt: 5 }), share({ serverName: 'gpu', scopes: ['access:servers!server=alice/gpu'], expiresAt: 9 })]), {
      bob: { all: false, users: [], groups: [], servers: [], expiring: [{ server: 'alice/', expiresAt: 5 }, { server: 'alice/gpu', expiresAt: 9 }] },
    });
  });

  test('a user called __proto__ receives a share as a key, not a prototype', () => {
    const r = resolveAccess(users, tables({ shares: [share({ userId: 5 })] }), SCOPES_WITH_SHARING);
    assert.deepEqual([...r.access.keys()], ['__proto__']);
    assert.deepEqual(r.access.get('__proto__'), servers('alice/'));
  });
});
