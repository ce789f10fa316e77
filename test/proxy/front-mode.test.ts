// Front mode against a real configurable-http-proxy 5.3: hub-guard forwards to CHP and learns owners from its API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { startBackend, type Backend } from '../helpers/backend.js';
import { addRoute, proxied, startProxy, type RunningProxy } from '../helpers/proxies.js';

describe('front mode in front of configurable-http-proxy', () => {
  let chp: RunningProxy;
  let guard: RunningProxy;
  const backends: Record<string, Backend> = {};
  let dir: string;
  let sign: (email: string) => Promise<string>;

  before(async () => {
    for (const name of ['hub', 'alice', 'bob', 'carol']) backends[name] = await startBackend({ name });
    chp = await startProxy('chp');
    await addRoute(chp, '/', { target: backends.hub.url, jupyterhub: true, hub: true });
    await addRoute(chp, '/user/alice', { target: backends.alice.url, jupyterhub: true, user: 'alice', server_name: '' });
    await addRoute(chp, '/user/bob', { target: backends.bob.url, jupyterhub: true, user: 'bob', server_name: '' });

    // an identity provider's keys, so requests can say who they are without a hub
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    dir = mkdtempSync(join(tmpdir(), 'hg-front-'));
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    sign = (email) => new SignJWT({ email }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);

    guard = await startProxy('hub-guard', [
      '--upstream', chp.url, '--upstream-api', chp.apiUrl, '--upstream-poll-interval', '0.2',
      '--identity-header', 'X-Id', '--jwks-file', join(dir, 'jwks.json'),
    ], { HUB_GUARD_UPSTREAM_TOKEN: chp.token });
  });

  after(async () => {
    await guard?.stop();
    await chp?.stop();
    await Promise.all(Object.values(backends).map((b) => b.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  const as = async (email: string) => ({ 'x-id': await sign(email) });

  test("a user reaches their own server through the upstream proxy", async () => {
    const r = await proxied(guard, 'GET', '/user/alice/api/status', { headers: await as('alice@example.org') });
    assert.equal(r.status, 200);
    assert.equal(r.json().name, 'alice');
  });

  test("another user's server is refused before it reaches the upstream", async () => {
    const seen = backends.bob.seen.length;
    const r = await proxied(guard, 'GET', '/user/bob/api/status', { headers: { ...(await as('alice@example.org')), accept: 'application/json' } });
    assert.equal(r.status, 403);
    assert.equal(r.json().reason, 'other-user-server');
    assert.equal(backends.bob.seen.length, seen);
  });

  test('anonymous requests and the hub pass through', async () => {
    assert.equal((await proxied(guard, 'GET', '/user/bob/tree')).json().name, 'bob');
    assert.equal((await proxied(guard, 'GET', '/hub/home', { headers: await as('alice@example.org') })).json().name, 'hub');
  });

  test('routes added to the upstream later are learned by polling', async () => {
    await addRoute(chp, '/user/carol', { target: backends.carol.url, jupyterhub: true, user: 'carol', server_name: '' });
    let status = 0;
    for (let i = 0; i < 100 && status !== 403; i++) {
      status = (await proxied(guard, 'GET', '/user/carol/x', { headers: await as('alice@example.org') })).status;
      if (status !== 403) await sleep(100);
    }
    assert.equal(status, 403, 'carol\'s new route is owned by carol once polled');
  });
});
