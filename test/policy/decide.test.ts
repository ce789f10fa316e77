import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dropsRequestCookie, plantsCredential } from '../../src/policy/credentials.js';
import { decide, decideResponse, type Decision, type Facts, type GuardState, type Identity, type ResponseFacts } from '../../src/policy/decide.js';

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
  ['share of bob/ expiring later passes', { identity: alice, route: bobsRoute, grant: { ...none, expiring: [{ server: 'bob/', expiresAt: 2000 }] }, now: 1999 }, normal, allow],
  ['... not at its expiry', { identity: alice, route: bobsRoute, grant: { ...none, expiring: [{ server: 'bob/', expiresAt: 2000 }] }, now: 2000 }, normal, other],
  ['... nor without a clock', { identity: alice, route: bobsRoute, grant: { ...none, expiring: [{ server: 'bob/', expiresAt: 2000 }] } }, normal, other],
  ['share of bob/gpu does not open the default server', { identity: alice, route: bobsRoute, grant: { ...none, expiring: [{ server: 'bob/gpu', expiresAt: 2000 }] }, now: 1 }, normal, other],
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
  ['the hub\'s health and metrics pass maintenance', { identity: anon, route: hubRoute, monitoring: true }, maint, allow],
  ['... unless --maintenance-hold-monitoring', { identity: anon, route: hubRoute, monitoring: true }, { ...maint, holdMonitoring: true }, { action: 'maintenance', reason: 'maintenance-auto' }],
  ['manual maintenance names itself', { identity: anon }, { ...normal, maintenance: { reason: 'x', mode: 'manual' } }, { action: 'maintenance', reason: 'maintenance-manual' }],
];

for (const [name, facts, state, expected] of rows) {
  test(name, () => {
    assert.deepEqual(decide({ operator: false, identity: anon, ...facts }, state), expected);
  });
}

// The response rules, as one table with the request rules above: an upstream answer's facts → the decision.
const grantBob = { ...none, users: ['bob'] };
const responseRows: [string, ResponseFacts, Pick<GuardState, 'adminAccess'>, Decision][] = [
  ['an ordinary hub answer passes', { identity: alice }, normal, allow],
  ['a login setting an empty cookie_id is refused with 409', { identity: anon, setsBadHubCookie: 'cookie-id-empty' }, normal, { action: 'block', status: 409, reason: 'cookie-id-empty' }],
  ['a login setting a shared cookie_id is refused with 409', { identity: alice, setsBadHubCookie: 'cookie-id-shared' }, normal, { action: 'block', status: 409, reason: 'cookie-id-shared' }],
  ['a login setting a malformed cookie_id is refused with 409', { identity: alice, setsBadHubCookie: 'cookie-id-malformed' }, normal, { action: 'block', status: 409, reason: 'cookie-id-malformed' }],
  ['a redirect into the user\'s own server passes', { identity: alice, redirectInto: { owner: 'alice', server: '' } }, normal, allow],
  ['a redirect into another user\'s server is refused', { identity: alice, redirectInto: { owner: 'bob', server: '' } }, normal, { action: 'block', status: 403, reason: 'redirect-to-other-user' }],
  ['... unless the hub grants it', { identity: alice, redirectInto: { owner: 'bob', server: '', grant: grantBob } }, normal, allow],
  ['... or through the owner\'s group', { identity: alice, redirectInto: { owner: 'bob', server: '', grant: { ...none, groups: ['lab'] }, ownerGroups: ['lab'] } }, normal, allow],
  ['... or by a share until its expiry', { identity: alice, redirectInto: { owner: 'bob', server: '', grant: { ...none, expiring: [{ server: 'bob/', expiresAt: 2000 }] } }, now: 1999 }, normal, allow],
  ['... and not after it', { identity: alice, redirectInto: { owner: 'bob', server: '', grant: { ...none, expiring: [{ server: 'bob/', expiresAt: 2000 }] } }, now: 2000 }, normal, { action: 'block', status: 403, reason: 'redirect-to-other-user' }],
  ['... an admin passes', { identity: alice, redirectInto: { owner: 'bob', server: '', grant: { ...none, all: true } } }, normal, allow],
  ['... but not with --no-admin-access', { identity: alice, redirectInto: { owner: 'bob', server: '', grant: { ...none, all: true } } }, { adminAccess: false }, { action: 'block', status: 403, reason: 'redirect-to-other-user' }],
  ['an anonymous visitor may be redirected anywhere (the next request is checked)', { identity: anon, redirectInto: { owner: 'bob', server: '' } }, normal, allow],
];

for (const [name, facts, state, expected] of responseRows) {
  test(`response: ${name}`, () => {
    assert.deepEqual(decideResponse(facts, state), expected);
  });
}

// Which credentials travel where (policy/credentials.ts), as a table: cookie name, to the hub?, own server cookie → dropped?
const cookieRows: [string, boolean, string | undefined, boolean][] = [
  ['jupyterhub-hub-login', false, 'jupyterhub-user-alice', true],
  ['jupyterhub-hub-login', true, undefined, false],
  ['__Host-jupyterhub-hub-login', false, undefined, true],
  ['JupyterHub-Hub-Login', false, 'jupyterhub-user-alice', true],
  ['jupyterhub-services', false, undefined, true],
  ['hub-guard-session', false, 'jupyterhub-user-alice', true],
  ['hub-guard-session', true, undefined, false],
  ['hub-guard-operator', true, undefined, true],
  // the console's session is set by the API port, but browsers send it to the public port too (cookies ignore ports)
  ['hub-guard-console', true, undefined, true],
  ['__Host-Hub-Guard-Console', false, 'jupyterhub-user-alice', true],
  ['jupyterhub-user-alice', false, 'jupyterhub-user-alice', false],
  ['jupyterhub-user-alice-oauth-state', false, 'jupyterhub-user-alice', false],
  ['jupyterhub-user-alice2', false, 'jupyterhub-user-alice', true],
  ['__Host-jupyterhub-user-bob', false, 'jupyterhub-user-alice', true],
  ['jupyterhub-user-alice', false, undefined, true],
  ['_xsrf', false, 'jupyterhub-user-alice', false],
  ['jupyterhub-session-id', false, undefined, false],
];
for (const [name, toHub, own, dropped] of cookieRows) {
  test(`request cookie ${name} to ${toHub ? 'the hub' : own ? `the server owning ${own}` : 'a service'}: ${dropped ? 'dropped' : 'kept'}`, () => {
    assert.equal(dropsRequestCookie(name, toHub, own), dropped);
  });
}

const setCookieRows: [string, boolean][] = [
  ['jupyterhub-hub-login=x; Path=/hub/', true],
  ['__Host-jupyterhub-hub-login=x; Path=/; Secure', true],
  ['"jupyterhub-hub-login"=x', true],
  ['=jupyterhub-hub-login=x', true],
  ['jupyterhub-hub-login; Path=/hub/', true],
  ['hub-guard-session=x', true],
  ['hub-guard-operator=x', true],
  ['hub-guard-console=x; Path=/guard/', true],
  ['_xsrf=2|x; Path=/user/alice/', false],
  ['jupyterhub-user-alice=token; Path=/user/alice/', false],
];
for (const [line, planted] of setCookieRows) {
  test(`Set-Cookie from anything but the hub: ${line} ${planted ? 'plants a credential' : 'passes'}`, () => {
    assert.equal(plantsCredential(line), planted);
  });
}
