import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type Decision, type Facts, type GuardState, type Identity } from '../../src/policy/decide.js';

const alice: Identity = { kind: 'user', name: 'alice', id: 1, source: 'session' };
const bob: Identity = { kind: 'user', name: 'bob', id: 2, source: 'hub-cookie' };
const anon: Identity = { kind: 'anonymous' };
const bobsRoute = { prefix: '/user/bob', owner: 'bob', serverName: '' };
const hubRoute = { prefix: '/' };
const none = { all: false, users: [], groups: [], servers: [] };
const normal: GuardState = { allowRunningServers: false, adminAccess: true };
const maint: GuardState = { ...normal, maintenance: { reason: 'db', mode: 'auto' } };

const allow: Decision = { action: 'allow' };
const other: Decision = { action: 'block', status: 403, reason: 'other-user-server' };

const rows: [string, Partial<Facts>, GuardState, Decision][] = [
  ['owner reaches own server', { identity: bob, route: bobsRoute }, normal, allow],
  ['another user is refused', { identity: alice, route: bobsRoute }, normal, other],
  ['another user over a websocket too (same facts)', { identity: alice, route: bobsRoute }, normal, other],
  ['anonymous passes to the server (it runs its own OAuth)', { identity: anon, route: bobsRoute }, normal, allow],
  ['hub route has no owner', { identity: alice, route: hubRoute }, normal, allow],
  ['no route: nothing to protect, the proxy answers 404', { identity: alice }, normal, allow],
  ['admin with unfiltered access passes', { identity: alice, route: bobsRoute, grant: { ...none, all: true } }, normal, allow],
  ['admin refused with --no-admin-access', { identity: alice, route: bobsRoute, grant: { ...none, all: true } }, { ...normal, adminAccess: false }, other],
  ['role granting user=bob passes', { identity: alice, route: bobsRoute, grant: { ...none, users: ['bob'] } }, normal, allow],
  ['role granting user=carol does not', { identity: alice, route: bobsRoute, grant: { ...none, users: ['carol'] } }, normal, other],
  ['role granting group of owner passes', { identity: alice, route: bobsRoute, grant: { ...none, groups: ['lab'] }, ownerGroups: ['lab'] }, normal, allow],
  ['role granting another group does not', { identity: alice, route: bobsRoute, grant: { ...none, groups: ['x'] }, ownerGroups: ['lab'] }, normal, other],
  ['role granting server=bob/ passes', { identity: alice, route: bobsRoute, grant: { ...none, servers: ['bob/'] } }, normal, allow],
  ['role granting server=bob/gpu does not open the default server', { identity: alice, route: bobsRoute, grant: { ...none, servers: ['bob/gpu'] } }, normal, other],
  ['empty cookie_id refused with 409', { identity: { kind: 'problem', reason: 'cookie-id-empty' }, route: hubRoute }, normal, { action: 'block', status: 409, reason: 'cookie-id-empty' }],
  ['shared cookie_id refused with 409', { identity: { kind: 'problem', reason: 'cookie-id-shared' }, route: hubRoute }, normal, { action: 'block', status: 409, reason: 'cookie-id-shared' }],
  ['malformed cookie_id refused with 409', { identity: { kind: 'problem', reason: 'cookie-id-malformed' }, route: hubRoute }, normal, { action: 'block', status: 409, reason: 'cookie-id-malformed' }],
  ['identity conflict refused', { identity: { kind: 'problem', reason: 'identity-conflict' }, route: bobsRoute }, normal, { action: 'block', status: 409, reason: 'identity-conflict' }],
  ['newer of two routes to one target refused', { identity: bob, route: { ...bobsRoute, sharesTarget: true } }, normal, { action: 'block', status: 409, reason: 'route-target-shared' }],
  ['maintenance holds everyone', { identity: bob, route: bobsRoute }, maint, { action: 'maintenance', reason: 'maintenance-auto' }],
  ['maintenance holds the hub', { identity: anon, route: hubRoute }, maint, { action: 'maintenance', reason: 'maintenance-auto' }],
  ['operator passes maintenance', { identity: anon, route: hubRoute, operator: true }, maint, allow],
  ['running servers stay reachable for their owner when allowed', { identity: bob, route: bobsRoute }, { ...maint, allowRunningServers: true }, allow],
  ['... but not for others', { identity: alice, route: bobsRoute }, { ...maint, allowRunningServers: true }, { action: 'maintenance', reason: 'maintenance-auto' }],
  ['... nor the hub', { identity: bob, route: hubRoute }, { ...maint, allowRunningServers: true }, { action: 'maintenance', reason: 'maintenance-auto' }],
  ['manual maintenance names itself', { identity: anon }, { ...normal, maintenance: { reason: 'x', mode: 'manual' } }, { action: 'maintenance', reason: 'maintenance-manual' }],
];

for (const [name, facts, state, expected] of rows) {
  test(name, () => {
    assert.deepEqual(decide({ operator: false, identity: anon, ...facts }, state), expected);
  });
}
