// The hub's hardened cookie layout (JupyterHub 4.1+ `cookie_host_prefix_enabled`, over https): the login cookie is
// `__Host-jupyterhub-hub-login` at path `/`, servers' cookies `__Host-jupyterhub-user-<name>`. Debian ships only
// JupyterHub 3.0, so the hub is a stand-in that sets and expects exactly what 5.5.1 does
// (../shared/jupyterhub-facts.md 5a.4, vector G), in front of a real hub-guard process and a real hub DB.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSignedValue } from '../../src/identity/tornado.js';
import { addRoute, startGuard, type Guard } from '../helpers/guard.js';
import { get, setCookies } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const PREFIXED = '__Host-jupyterhub-hub-login';
const HTTPS = { 'x-forwarded-proto': 'https' };

describe('hub cookies under __Host- names', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  const ups: Record<string, Upstream> = {};
  let guard: Guard;
  const cookieOf = (name: string, cookieId = db.users.get(name)!.cookieId) => hubCookie(secret.key, cookieId, { name: PREFIXED });

  before(async () => {
    tmp = scratch();
    db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob', 'carol'] });
    secret = writeSecret(tmp.dir);
    for (const name of ['hub', 'alice', 'bob']) ups[name] = await startUpstream(name, { echoHeaders: true });
    // the user server plants the hub's login cookie the way a prefixed hub would set it
    ups.bob!.handle('/user/bob/plant', (_req, res) => {
      res.appendHeader('set-cookie', `${PREFIXED}="x"; Path=/; Secure; HttpOnly`);
      res.appendHeader('set-cookie', '__host-jupyterhub-hub-login=x; Path=/; Secure');
      res.end('planted');
    });
    // the hub logs carol in with an empty cookie_id under the prefixed name
    ups.hub!.handle('/hub/login', (_req, res) => {
      res.appendHeader('set-cookie', `${PREFIXED}="${createSignedValue(secret.key, PREFIXED, '', Date.now() / 1000)}"; Path=/; Secure; HttpOnly`);
      res.writeHead(302, { location: '/hub/home' });
      res.end();
    });
    guard = await startGuard({ db, secret });
    await addRoute(guard, '/', { hub: true, target: ups.hub!.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', target: ups.alice!.url });
    await addRoute(guard, '/user/bob', { user: 'bob', server_name: '', target: ups.bob!.url });
  });
  after(async () => {
    await guard?.stop();
    for (const u of Object.values(ups)) await u.stop();
    tmp?.remove();
  });

  test('the prefixed login cookie identifies its user, and the session follows the layout behind https', async () => {
    const r = await get(guard.port, '/hub/home', { cookie: cookieOf('alice'), ...HTTPS });
    assert.equal(r.status, 200);
    const session = setCookies(r).find((l) => l.startsWith('__Host-hub-guard-session='));
    assert.ok(session, `no __Host- session: ${JSON.stringify(setCookies(r))}`);
    assert.match(session, /; Path=\/;/);
    assert.match(session, /; Secure/);
    assert.doesNotMatch(session, /Domain=/i);
    // with the session alone alice is known on bob's server and refused there
    const token = /^(__Host-hub-guard-session=[^;]+)/.exec(session)![1]!;
    assert.equal((await get(guard.port, '/user/bob/tree', { cookie: token, ...HTTPS, accept: 'application/json' })).status, 403);
    assert.equal((await get(guard.port, '/user/alice/tree', { cookie: token, ...HTTPS })).status, 200);
  });

  test("at path / the browser sends it everywhere: another user's server is refused, and never receives it", async () => {
    const before = ups.bob!.seen.length;
    const r = await get(guard.port, '/user/bob/tree', { cookie: cookieOf('alice'), ...HTTPS, accept: 'application/json' });
    assert.equal(r.status, 403);
    assert.equal(r.json().reason, 'other-user-server');
    assert.equal(ups.bob!.seen.length, before);
    // bob on his own server: neither his login nor alice's __Host- server cookie reaches it
    await get(guard.port, '/user/bob/tree', { cookie: `${cookieOf('bob')}; __Host-jupyterhub-user-alice=alices-token; __Host-jupyterhub-user-bob=bobs-token`, ...HTTPS });
    const sent = String(ups.bob!.seen[ups.bob!.seen.length - 1]!.headers.cookie ?? '');
    assert.doesNotMatch(sent, /jupyterhub-hub-login/);
    assert.doesNotMatch(sent, /jupyterhub-user-alice/);
    assert.match(sent, /__Host-jupyterhub-user-bob=bobs-token/);
  });

  test('an empty cookie_id under the prefixed name is a 409 that clears the cookie in both layouts', async () => {
    const empty = `${PREFIXED}=${createSignedValue(secret.key, PREFIXED, '', Date.now() / 1000)}`;
    const r = await get(guard.port, '/hub/home', { cookie: empty, ...HTTPS, accept: 'application/json' });
    assert.equal(r.status, 409);
    assert.equal(r.json().reason, 'cookie-id-empty');
    const lines = setCookies(r);
    assert.ok(lines.some((l) => l.startsWith(`${PREFIXED}=;`) && /Path=\/(;|$)/.test(l) && /Secure/.test(l)), JSON.stringify(lines));
    assert.ok(lines.some((l) => l.startsWith('jupyterhub-hub-login=;') && /Path=\/hub\//.test(l)), JSON.stringify(lines));
  });

  test('the hub setting a prefixed login cookie with an empty cookie_id is refused', async () => {
    const r = await get(guard.port, '/hub/login', { ...HTTPS, accept: 'application/json' });
    assert.equal(r.status, 409);
    assert.equal(r.json().reason, 'cookie-id-empty');
  });

  test('a user server cannot set the prefixed login cookie, in any letter case', async () => {
    const r = await get(guard.port, '/user/bob/plant', { cookie: cookieOf('bob'), ...HTTPS });
    assert.equal(r.status, 200);
    assert.deepEqual(setCookies(r).filter((l) => /hub-login/i.test(l)), []);
  });

  test('a leftover unprefixed cookie from before the switch is ignored when the prefixed one is there, as the hub does', async () => {
    // bob's browser still holds alice's old plain cookie (say a shared machine); the hub reads only the prefixed one
    const both = `jupyterhub-hub-login=${hubCookie(secret.key, db.users.get('alice')!.cookieId).split('=').slice(1).join('=')}; ${cookieOf('bob')}`;
    const own = await get(guard.port, '/user/bob/tree', { cookie: both, ...HTTPS });
    assert.equal(own.status, 200, 'identified as bob, not refused as a conflict');
    const other = await get(guard.port, '/user/alice/tree', { cookie: both, ...HTTPS, accept: 'application/json' });
    assert.equal(other.status, 403, 'and bob is not alice');
    // without a prefixed cookie the plain one still counts (the hub has not switched)
    assert.equal((await get(guard.port, '/user/alice/tree', { cookie: hubCookie(secret.key, db.users.get('bob')!.cookieId), accept: 'application/json' })).status, 403);
  });
});
