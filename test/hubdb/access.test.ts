import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseScopes, resolveAccess, type RoleTables } from '../../src/hubdb/access.js';
import type { HubUser } from '../../src/hubdb/snapshot.js';

const u = (id: number, name: string, admin = false): HubUser => ({ id, name, admin, cookieId: null, created: null });

function tables(t: Partial<RoleTables>): RoleTables {
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
