// Identity binding end to end: a real hub-guard process, a JupyterHub-made hub DB, fake hub and user servers.
// Nobody reaches another user's server unless the hub itself grants it; user servers never see login secrets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { addHubRoutes, login, startGuard, type Guard } from '../helpers/guard.js';
import { send, setCookies, setCookieValue, upgrade } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { HUB_COOKIE, hubCookie, SESSION_COOKIE, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let db: HubDbFixture;
let secret: Secret;
let hub: Upstream;
let servers: Record<string, Upstream>;
let guard: Guard;
let strict: Guard;

const cookieIdOf = (name: string) => db.users.get(name)!.cookieId;
const html = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
const jsonAccept = { accept: 'application/json' };

before(async () => {
  db = await makeHubDb({
    admin_users: ['root'],
    allowed_users: ['alice', 'alice2', 'bob', 'carol'],
    load_roles: [{ name: 'bob-helper', scopes: ['access:servers!user=bob'], users: ['carol'] }],
  });
  secret = writeSecret(db.dir);
  hub = await startUpstream('hub', { echoHeaders: true });
  servers = {
    alice: await startUpstream('alice-server', { echoHeaders: true }),
    alice2: await startUpstream('alice2-server', { echoHeaders: true }),
    bob: await startUpstream('bob-server', { echoHeaders: true }),
  };
  [guard, strict] = await Promise.all([
    startGuard({ db, secret }),
    startGuard({ db, secret, flags: ['--no-admin-access'] }),
  ]);
  await addHubRoutes(guard, hub, servers);
  await addHubRoutes(strict, hub, servers);
});

after(async () => {
  await Promise.all([guard?.stop(), strict?.stop()]);
  await Promise.all([hub, ...Object.values(servers ?? {})].map((u) => u?.stop()));
  db?.remove();
});

describe('identity binding', () => {
  test("alice's hub cookie on /hub/home is forwarded to the hub and gets a hub-guard-session", async () => {
    const r = await guard.get('/hub/home', { cookie: hubCookie(secret.key, cookieIdOf('alice')), ...html });
    assert.equal(r.status, 200);
    assert.equal(r.json().upstream, 'hub');
    // the hub itself needs its cookie
    assert.match(String(r.json().headers.cookie), new RegExp(`${HUB_COOKIE}=`));
    const line = setCookies(r).find((l) => l.startsWith(`${SESSION_COOKIE}=`));
    assert.ok(line && setCookieValue(r, SESSION_COOKIE), `a session cookie is set: ${JSON.stringify(setCookies(r))}`);
    assert.match(line, /Path=\/(;|$)/);
    assert.match(line, /HttpOnly/);
    assert.match(line, /SameSite=Lax/);
  });

  test("alice's session on bob's server gets the 403 page (HTML and JSON) and bob's server sees nothing", async () => {
    const session = await login(guard, secret.key, cookieIdOf('alice'));
    const before = servers.bob.requests.length;

    const page = await guard.get('/user/bob/tree', { cookie: session, ...html });
    assert.equal(page.status, 403);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.match(page.text, /belongs to another account/);
    assert.match(page.text, /other-user-server/);

    const api = await guard.get('/user/bob/api/contents', { cookie: session, ...jsonAccept });
    assert.equal(api.status, 403);
    assert.match(String(api.headers['content-type']), /^application\/json/);
    assert.equal(api.headers['cache-control'], 'no-store');
    assert.equal(api.json().reason, 'other-user-server');
    assert.equal(api.json().status, 403);

    assert.equal(servers.bob.requests.length, before, "bob's server received none of alice's requests");
  });

  test("alice reaches her own server, which never sees login cookies, other users' cookies or a forged X-Hub-Guard-User", async () => {
    const session = await login(guard, secret.key, cookieIdOf('alice'));
    const forged = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ.';
    const cookie = [
      session,
      hubCookie(secret.key, cookieIdOf('alice')),
      'jupyterhub-user-bob=bobs-token',
      'jupyterhub-user-alice=alices-token',
      'jupyterhub-session-id=0123456789abcdef0123456789abcdef',
      '_xsrf=2|aa|bb|1700000000',
    ].join('; ');
    const r = await guard.get('/user/alice/tree', { cookie, 'x-hub-guard-user': forged, ...html });
    assert.equal(r.status, 200);
    const seen = r.json();
    assert.equal(seen.upstream, 'alice-server');
    const got = String(seen.headers.cookie);
    assert.doesNotMatch(got, new RegExp(`${HUB_COOKIE}=`));
    assert.doesNotMatch(got, new RegExp(`${SESSION_COOKIE}=`));
    assert.doesNotMatch(got, /jupyterhub-user-bob=/);
    // what alice's own server needs stays
    assert.match(got, /jupyterhub-user-alice=alices-token/);
    assert.match(got, /_xsrf=/);

    const assertion = seen.headers['x-hub-guard-user'];
    assert.equal(typeof assertion, 'string');
    assert.notEqual(assertion, forged);
    const jwks = createRemoteJWKSet(new URL(`${guard.apiUrl}/.well-known/jwks.json`));
    const { payload } = await jwtVerify(assertion, jwks, { issuer: 'hub-guard', audience: '/user/alice' });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.uid, db.users.get('alice')!.id);
  });

  test("a user server never receives the cookie of another user whose name merely starts with the owner's", async () => {
    const session = await login(guard, secret.key, cookieIdOf('alice'));
    const r = await guard.get('/user/alice/tree', { cookie: `${session}; jupyterhub-user-alice2=alice2s-token; jupyterhub-user-alice=alices-token` });
    assert.equal(r.json().upstream, 'alice-server');
    const got = String(r.json().headers.cookie);
    assert.match(got, /jupyterhub-user-alice=alices-token/);
    assert.doesNotMatch(got, /jupyterhub-user-alice2=/, "alice2's server token must not reach alice's server");
  });

  test('an anonymous request is forwarded (the server runs its own OAuth), without a client-sent X-Hub-Guard-User', async () => {
    const r = await guard.get('/user/bob/tree', { 'x-hub-guard-user': 'forged.by.client', ...html });
    assert.equal(r.status, 200);
    assert.equal(r.json().upstream, 'bob-server');
    assert.equal(r.json().headers['x-hub-guard-user'], undefined);
  });

  test("a websocket to bob's server with alice's session is refused with 403 before any upstream connection", async () => {
    const session = await login(guard, secret.key, cookieIdOf('alice'));
    const bob = servers.bob;
    const before = { connections: bob.connections(), upgrades: bob.upgrades.length, requests: bob.requests.length };
    const refused = await upgrade(guard.port, '/user/bob/api/kernels/k1/channels', { cookie: session }).catch((e: Error) => e);
    assert.deepEqual({ connections: bob.connections(), upgrades: bob.upgrades.length, requests: bob.requests.length }, before);

    // the same handshake to her own server goes through, so the refusal is the guard's doing
    const own = await upgrade(guard.port, '/user/alice/api/kernels/k1/channels', { cookie: session });
    assert.equal(own.status, 101);
    assert.equal(servers.alice.upgrades.at(-1)?.url, '/user/alice/api/kernels/k1/channels');
    assert.doesNotMatch(String(servers.alice.upgrades.at(-1)?.headers.cookie ?? ''), new RegExp(`${SESSION_COOKIE}=`));

    // a client must be able to read the refusal: an HTTP parser that rejects it sees a broken connection, not a 403
    assert.ok(!(refused instanceof Error), `the refusal is a well-formed HTTP response: ${(refused as Error).message}`);
    assert.equal(refused.status, 403);
    assert.equal(refused.headers['cache-control'], 'no-store');
  });

  test("path tricks never carry alice to bob's server", async () => {
    const session = await login(guard, secret.key, cookieIdOf('alice'));
    const before = servers.bob.requests.length;
    for (const path of ['/user/alice/../bob/tree', '/user/alice/%2e%2e/bob/tree', '/user/ali%63e/../bob/', '/user/alice%2F..%2Fbob/', '/user//bob/tree', '/user/bob%2Ftree']) {
      const r = await guard.get(path, { cookie: session, ...jsonAccept });
      assert.ok(r.status < 500, `${path} answered ${r.status}`);
      if (r.status === 200) assert.notEqual(r.json().upstream, 'bob-server', path);
    }
    assert.equal(servers.bob.requests.length, before);
  });

  test("an admin (users.admin) reaches bob's server, and with --no-admin-access does not", async () => {
    const r = await guard.get('/user/bob/tree', { cookie: await login(guard, secret.key, cookieIdOf('root')), ...jsonAccept });
    assert.equal(r.status, 200);
    assert.equal(r.json().upstream, 'bob-server');

    const refused = await strict.get('/user/bob/tree', { cookie: await login(strict, secret.key, cookieIdOf('root')), ...jsonAccept });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().reason, 'other-user-server');
  });

  test("a custom role granting access:servers!user=bob lets carol into bob's server and nowhere else", async () => {
    const session = await login(guard, secret.key, cookieIdOf('carol'));
    const r = await guard.get('/user/bob/tree', { cookie: session, ...jsonAccept });
    assert.equal(r.status, 200);
    assert.equal(r.json().upstream, 'bob-server');
    const other = await guard.get('/user/alice/tree', { cookie: session, ...jsonAccept });
    assert.equal(other.status, 403);
    assert.equal(other.json().reason, 'other-user-server');
  });

  test('the guard is still up and its own log names every refusal with its reason', async () => {
    assert.ok(guard.alive());
    const refusals = guard.logs().filter((l) => l.msg === 'refused');
    assert.ok(refusals.length > 0);
    for (const l of refusals) assert.equal(typeof l.reason, 'string');
    assert.ok(!guard.output().includes(cookieIdOf('alice')), 'no cookie_id in the logs');
    assert.ok(!guard.output().includes(secret.key.toString('hex')), 'no secret in the logs');
    assert.equal((await send(guard.apiPort, 'GET', '/readyz')).status, 200);
  });
});
