// What user code can send back: a user server answers whoever hub-guard lets through (an anonymous visitor, say), and
// without subdomains it shares the hub's origin. It must not be able to plant the cookies identity rests on (the
// hub's login cookie, hub-guard's session, the operator cookie) in a visitor's browser.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { addRoute, login, startGuard, type Guard } from '../helpers/guard.js';
import { get } from '../helpers/http.js';
import { makeHubDb } from '../helpers/hub-db.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

describe('responses from user servers', () => {
  let tmp: Scratch;
  let guard: Guard;
  let hub: Upstream;
  let mallory: Upstream;
  let planted: string[];

  before(async () => {
    tmp = scratch();
    const db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'mallory'] });
    const secret = writeSecret(tmp.dir);
    hub = await startUpstream('hub');
    mallory = await startUpstream('mallory');
    guard = await startGuard({ flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file] });
    await addRoute(guard, '/', { hub: true, target: hub.url });
    await addRoute(guard, '/user/mallory', { user: 'mallory', server_name: '', target: mallory.url });
    // mallory's own, perfectly valid credentials, which her server hands to whoever visits it
    const malloryHub = hubCookie(secret.key, db.users.get('mallory')!.cookieId);
    const mallorySession = await login(guard, secret.key, db.users.get('mallory')!.cookieId);
    planted = [
      `${malloryHub}; Path=/hub/; HttpOnly`,
      `${malloryHub.replace('jupyterhub-hub-login', 'jupyterhub-services')}; Path=/services/; HttpOnly`,
      `${mallorySession}; Path=/; HttpOnly`,
      'hub-guard-operator=guess; Path=/',
    ];
    mallory.handle('/user/mallory/plant', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'set-cookie': [...planted, 'jupyterhub-user-mallory=own-token; Path=/user/mallory/'] });
      res.end('<p>hello</p>');
    });
  });
  after(async () => {
    await guard?.stop();
    await hub?.stop();
    await mallory?.stop();
    tmp?.remove();
  });

  test("a user server cannot set the hub's login cookie, hub-guard's session or the operator cookie", async () => {
    const r = await get(guard.port, '/user/mallory/plant');
    assert.equal(r.status, 200);
    const names = (r.headers['set-cookie'] ?? []).map((c) => c.slice(0, c.indexOf('=')));
    assert.ok(names.includes('jupyterhub-user-mallory'), 'the server\'s own cookie must still be set');
    const passed = names.filter((n) => ['jupyterhub-hub-login', 'jupyterhub-services', 'hub-guard-session', 'hub-guard-operator'].includes(n));
    assert.deepEqual(passed, [], `a visitor's browser was handed ${passed.join(', ')} by mallory's server`);
  });
});
