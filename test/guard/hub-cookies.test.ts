// The incident's pattern end to end: hub login cookies whose cookie_id is empty, malformed or shared, identity
// conflicts and redirects into another user's server are refused (409/403); broken cookies identify nobody.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createSignedValue } from '../../src/identity/tornado.js';
import { addHubRoutes, login, startGuard, type Guard } from '../helpers/guard.js';
import { setCookies, setCookieValue, type Reply } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { HUB_COOKIE, hubCookie, SESSION_COOKIE, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let healthyDb: HubDbFixture;
let brokenDb: HubDbFixture;
let secret: Secret;
let hub: Upstream;
let servers: Record<string, Upstream>;
/** In front of a healthy hub DB. */
let guard: Guard;
/** In front of a DB rebuilt by hand: alice's cookie_id is '', carol shares bob's. */
let broken: Guard;

const html = { accept: 'text/html' };
const jsonAccept = { accept: 'application/json' };
const signedEmpty = () => createSignedValue(secret.key, HUB_COOKIE, '', Date.now() / 1000);

/** The hub cookie is cleared where the hub set it: Path=/hub/, expired now. */
function clearsHubCookie(r: Reply): boolean {
  return setCookies(r).some((l) => l.startsWith(`${HUB_COOKIE}=;`) && /Path=\/hub\/(;|$)/.test(l) && /Max-Age=0/.test(l));
}

/** Findings raised from requests switch maintenance on; each refusal here is checked from a clean start. */
async function maintenanceOff(g: Guard): Promise<void> {
  const r = await g.operator('DELETE', '/api/guard/maintenance', { reason: 'next test case' });
  assert.equal(r.status, 200);
  assert.equal(r.json().on, false);
}

async function findings(g: Guard): Promise<string[]> {
  const s = (await g.operator('GET', '/api/guard/status')).json();
  return s.db.findings.map((f: { check: string }) => f.check);
}

before(async () => {
  const users = { admin_users: [], allowed_users: ['alice', 'bob', 'carol'] };
  [healthyDb, brokenDb] = await Promise.all([makeHubDb(users), makeHubDb(users)]);
  brokenDb.dropCookieIdConstraints();
  brokenDb.exec(`UPDATE users SET cookie_id = '' WHERE name = 'alice';
    UPDATE users SET cookie_id = (SELECT cookie_id FROM users WHERE name = 'bob') WHERE name = 'carol';`);
  brokenDb.reload();
  secret = writeSecret(healthyDb.dir);
  hub = await startUpstream('hub', { echoHeaders: true });
  servers = { alice: await startUpstream('alice-server', { echoHeaders: true }), bob: await startUpstream('bob-server', { echoHeaders: true }) };
  [guard, broken] = await Promise.all([startGuard({ db: healthyDb, secret }), startGuard({ db: brokenDb, secret })]);
  await addHubRoutes(guard, hub, servers);
  await addHubRoutes(broken, hub, servers);
});

after(async () => {
  await Promise.all([guard?.stop(), broken?.stop()]);
  await Promise.all([hub, ...Object.values(servers ?? {})].map((u) => u?.stop()));
  healthyDb?.remove();
  brokenDb?.remove();
});

describe('hub cookie problems', () => {
  test("a hub cookie signed with an empty cookie_id gets the 409 page, clears the hub cookie, and never reaches the hub", async () => {
    await maintenanceOff(guard);
    const seen = hub.requests.length;
    const page = await guard.get('/hub/home', { cookie: `${HUB_COOKIE}=${signedEmpty()}`, ...html });
    assert.equal(page.status, 409);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.match(page.text, /inconsistent/);
    assert.ok(clearsHubCookie(page), `clears the hub cookie: ${JSON.stringify(setCookies(page))}`);

    await maintenanceOff(guard);
    const api = await guard.get('/hub/api/oauth2/authorize?client_id=jupyterhub-user-alice', { cookie: `${HUB_COOKIE}=${signedEmpty()}`, ...jsonAccept });
    assert.equal(api.status, 409);
    assert.equal(api.json().reason, 'cookie-id-empty');
    assert.ok(clearsHubCookie(api));
    assert.equal(hub.requests.length, seen, 'the hub never saw the empty cookie_id');
    assert.ok((await findings(guard)).includes('request-cookie-id-empty'), 'reported to the watchdog');
  });

  test("a hub cookie whose cookie_id is not of the hub's form gets 409", async () => {
    await maintenanceOff(guard);
    for (const cid of ['not-a-uuid', 'ABCDEF0123456789ABCDEF0123456789', `${healthyDb.users.get('alice')!.cookieId} `]) {
      await maintenanceOff(guard);
      const r = await guard.get('/hub/home', { cookie: hubCookie(secret.key, cid), ...jsonAccept });
      assert.equal(r.status, 409, JSON.stringify(cid));
      assert.equal(r.json().reason, 'cookie-id-malformed');
      assert.ok(clearsHubCookie(r));
    }
  });

  test("alice's session with bob's hub cookie is an identity conflict: 409, never forwarded", async () => {
    await maintenanceOff(guard);
    const session = await login(guard, secret.key, healthyDb.users.get('alice')!.cookieId);
    const seen = { hub: hub.requests.length, alice: servers.alice.requests.length, bob: servers.bob.requests.length };
    const r = await guard.get('/hub/api/oauth2/authorize', { cookie: `${session}; ${hubCookie(secret.key, healthyDb.users.get('bob')!.cookieId)}`, ...jsonAccept });
    assert.equal(r.status, 409);
    assert.equal(r.json().reason, 'identity-conflict');
    assert.deepEqual({ hub: hub.requests.length, alice: servers.alice.requests.length, bob: servers.bob.requests.length }, seen);
  });

  test('a hub login answer that sets an empty cookie_id reaches the client as 409, without that Set-Cookie', async () => {
    await maintenanceOff(guard);
    const bad = signedEmpty();
    hub.script('/hub/login', {
      status: 302,
      headers: {
        'set-cookie': ['jupyterhub-session-id=bba19044b4a445af86442fd84ef069b1; HttpOnly; Path=/', `${HUB_COOKIE}=${bad}; expires=Thu, 24 Dec 2099 19:56:51 GMT; HttpOnly; Path=/hub/`],
        location: '/hub/home',
      },
    });
    try {
      const r = await guard.get('/hub/login?next=', html);
      assert.equal(r.status, 409);
      assert.ok(!setCookies(r).some((l) => l.includes(bad)), `the bad cookie is never set: ${JSON.stringify(setCookies(r))}`);
      assert.ok(clearsHubCookie(r));
      assert.equal(r.headers.location, undefined);

      // the same login with a sound cookie_id passes untouched, so the refusal above is about the cookie_id
      await maintenanceOff(guard);
      const good = createSignedValue(secret.key, HUB_COOKIE, healthyDb.users.get('alice')!.cookieId, Date.now() / 1000);
      hub.script('/hub/login', { status: 302, headers: { 'set-cookie': [`${HUB_COOKIE}="${good}"; HttpOnly; Path=/hub/`], location: '/hub/home' } });
      const ok = await guard.get('/hub/login?next=', html);
      assert.equal(ok.status, 302);
      assert.equal(ok.headers.location, '/hub/home');
      assert.ok(setCookies(ok).some((l) => l.includes(good)));
    } finally {
      hub.unscript('/hub/login');
    }
  });

  test("a hub redirect that sends alice into bob's server is replaced by the 403 page", async () => {
    await maintenanceOff(guard);
    const session = await login(guard, secret.key, healthyDb.users.get('alice')!.cookieId);
    try {
      for (const location of ['/user/bob/', `http://127.0.0.1:${guard.port}/user/bob/tree?redirects=1`]) {
        hub.script('/hub/user-redirect/tree', { status: 302, headers: { location } });
        const r = await guard.get('/hub/user-redirect/tree', { cookie: session, ...jsonAccept });
        assert.equal(r.status, 403, location);
        assert.equal(r.json().reason, 'redirect-to-other-user');
        assert.equal(r.headers.location, undefined);
      }
      hub.script('/hub/user-redirect/tree', { status: 302, headers: { location: '/user/alice/tree' } });
      const own = await guard.get('/hub/user-redirect/tree', { cookie: session, ...jsonAccept });
      assert.equal(own.status, 302);
      assert.equal(own.headers.location, '/user/alice/tree');
    } finally {
      hub.unscript('/hub/user-redirect/tree');
    }
  });

  test('tampered, expired, foreign and garbage cookies identify nobody: forwarded as anonymous, never a crash', async () => {
    await maintenanceOff(guard);
    const alice = healthyDb.users.get('alice')!.cookieId;
    const valid = createSignedValue(secret.key, HUB_COOKIE, alice, Date.now() / 1000);
    const flipped = valid.slice(0, -1) + (valid.endsWith('0') ? '1' : '0');
    const hubValues = [
      `"${flipped}"`,
      `"${createSignedValue(randomBytes(32), HUB_COOKIE, alice, Date.now() / 1000)}"`,
      `"${createSignedValue(secret.key, HUB_COOKIE, alice, Date.now() / 1000 - 15 * 86400)}"`,
      `"${createSignedValue(secret.key, 'jupyterhub-user-alice', alice, Date.now() / 1000)}"`,
      '2|1:0|', '"', '""', '2|999999999999999999999:0|x', 'A'.repeat(6000), 'é', '%ff%fe', '|||', '1|2|3',
    ];
    const sessions = ['not.a.jwt', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsInVpZCI6MiwiY2lkIjoieCJ9.', '', '=', 'a'.repeat(3000)];
    const cases = [
      ...hubValues.map((v) => `${HUB_COOKIE}=${v}`),
      ...sessions.map((v) => `${SESSION_COOKIE}=${v}`),
      'hub-guard-operator=guess; jupyterhub-services=garbage',
      `${HUB_COOKIE}=${flipped}; ${HUB_COOKIE}=; ;;=; ${SESSION_COOKIE}`,
    ];
    for (const cookie of cases) {
      const home = await guard.get('/hub/home', { cookie, ...jsonAccept });
      assert.equal(home.status, 200, `${cookie.slice(0, 80)}: ${home.text.slice(0, 200)}`);
      assert.equal(home.json().upstream, 'hub');
      assert.ok(!setCookieValue(home, SESSION_COOKIE), `no session minted for ${cookie.slice(0, 80)}`);
      const server = await guard.get('/user/alice/tree', { cookie, ...jsonAccept });
      assert.equal(server.status, 200, cookie.slice(0, 80));
      assert.equal(server.json().upstream, 'alice-server');
      assert.equal(server.json().headers['x-hub-guard-user'], undefined, `not identified as anyone: ${cookie.slice(0, 80)}`);
    }
    // a validly signed cookie_id that no user has is passed on too: the hub logs that browser out itself
    const unknown = await guard.get('/hub/home', { cookie: hubCookie(secret.key, randomBytes(16).toString('hex')), ...jsonAccept });
    assert.equal(unknown.status, 200);
    assert.equal(unknown.json().upstream, 'hub');
    assert.ok(guard.alive());
  });

  describe('on a users table rebuilt by hand (no constraints, empty and shared cookie_ids)', () => {
    test('the watchdog has already put maintenance on, naming the findings', async () => {
      const checks = await findings(broken);
      assert.ok(checks.includes('cookie-id-empty'), checks.join());
      assert.ok(checks.includes('cookie-id-duplicate'), checks.join());
      const m = (await broken.operator('GET', '/api/guard/maintenance')).json();
      assert.equal(m.on, true);
      assert.equal(m.mode, 'auto');
    });

    test("alice's empty cookie_id: a browser gets the maintenance page that clears the cookie, an operator the 409, and the hub sees neither", async () => {
      const seen = hub.requests.length;
      const cookie = `${HUB_COOKIE}=${signedEmpty()}`;
      const user = await broken.get('/hub/home', { cookie, ...jsonAccept });
      assert.equal(user.status, 503);
      assert.ok(clearsHubCookie(user));

      const operator = await broken.get('/hub/home', { cookie, 'x-hub-guard-operator': broken.operatorToken, ...html });
      assert.equal(operator.status, 409);
      assert.match(operator.text, /inconsistent/);
      assert.ok(clearsHubCookie(operator));
      assert.equal(hub.requests.length, seen);
    });

    test('a cookie_id two users share gets 409 (cookie-id-shared) even for an operator', async () => {
      const seen = hub.requests.length;
      const cookie = hubCookie(secret.key, brokenDb.users.get('bob')!.cookieId);
      const r = await broken.get('/hub/api/oauth2/authorize', { cookie, 'x-hub-guard-operator': broken.operatorToken, ...jsonAccept });
      assert.equal(r.status, 409);
      assert.equal(r.json().reason, 'cookie-id-shared');
      assert.ok(clearsHubCookie(r));
      assert.equal(hub.requests.length, seen);
    });
  });
});
