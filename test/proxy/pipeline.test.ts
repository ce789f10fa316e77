// The request path in this test process, no hub-guard child process: the real config (buildConfig) and server
// (startServer) on port 0, the state in memory, a JupyterHub-made sqlite hub DB and a cookie secret from the harness,
// driven over HTTP with supertest. A failure here points at the request path itself, not at a process around it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { buildConfig } from '../../src/config.js';
import { startServer, type Running } from '../../src/server.js';
import { login } from '../helpers/guard.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TOKEN = randomBytes(16).toString('hex');
const jsonAccept = { accept: 'application/json' };

let db: HubDbFixture;
let secret: Secret;
let hub: Upstream;
let servers: Record<'alice' | 'bob', Upstream>;
let running: Running;
let publicUrl: string;

const cookieIdOf = (name: string) => db.users.get(name)!.cookieId;
/** alice's browser after her first visit to the hub: hub-guard's session cookie. */
const aliceSession = () => login({ port: running.ports.public! }, secret.key, cookieIdOf('alice'));

before(async () => {
  db = await makeHubDb({ users: ['alice', 'bob'] });
  secret = writeSecret(db.dir);
  hub = await startUpstream('hub', { echoHeaders: true });
  servers = { alice: await startUpstream('alice-server', { echoHeaders: true }), bob: await startUpstream('bob-server', { echoHeaders: true }) };
  // no --state-dir and no Redis: routes, maintenance, sessions and keys live in memory
  const cfg = buildConfig([
    '--ip', '127.0.0.1', '--port', '0', '--api-ip', '127.0.0.1', '--api-port', '0',
    '--hub-db', db.url, '--cookie-secret-file', secret.file, '--log-level', 'error',
  ], { CONFIGPROXY_AUTH_TOKEN: TOKEN });
  running = await startServer(cfg);
  publicUrl = `http://127.0.0.1:${running.ports.public}`;
  const api = request(`http://127.0.0.1:${running.ports.api}`);
  // the routes as the hub adds them through the CHP API
  await api.post('/api/routes/').set('authorization', `token ${TOKEN}`).send({ jupyterhub: true, hub: true, target: hub.url }).expect(201);
  for (const [user, up] of Object.entries(servers)) {
    await api.post(`/api/routes/user/${user}`).set('authorization', `token ${TOKEN}`).send({ jupyterhub: true, user, server_name: '', target: up.url }).expect(201);
  }
});

after(async () => {
  await running?.stop();
  await Promise.all([hub, ...Object.values(servers ?? {})].map((u) => u?.stop()));
  db?.remove();
});

describe('the request path, in process', () => {
  test('alice reaches her own server with the session hub-guard minted for her', async () => {
    const r = await request(publicUrl).get('/user/alice/tree').set({ cookie: await aliceSession(), ...jsonAccept });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.upstream, 'alice-server');
    assert.equal(r.body.url, '/user/alice/tree');
  });

  test("alice asking for bob's server gets the 403 page, and bob's server sees nothing", async () => {
    const cookie = await aliceSession();
    const before = servers.bob.seen.length;
    const r = await request(publicUrl).get('/user/bob/tree').set({ cookie, ...jsonAccept });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.body.reason, 'other-user-server');
    assert.equal(servers.bob.seen.length, before);
  });

  test('a hub cookie whose cookie_id is empty gets the 409 page and never reaches the hub', async () => {
    const before = hub.seen.length;
    const r = await request(publicUrl).get('/hub/home').set({ cookie: hubCookie(secret.key, ''), ...jsonAccept });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.body.reason, 'cookie-id-empty');
    assert.equal(hub.seen.length, before);
  });

  test('maintenance switched on through running.maintenance answers 503 until it is off again', async () => {
    const cookie = await aliceSession();
    await running.maintenance.on('manual', 'restoring the hub database', 'pipeline test');
    try {
      for (const path of ['/hub/home', '/user/alice/tree']) {
        const r = await request(publicUrl).get(path).set({ cookie, ...jsonAccept });
        assert.equal(r.status, 503, `${path}: ${r.text}`);
        assert.equal(r.body.reason, 'maintenance-manual');
      }
    } finally {
      await running.maintenance.off('pipeline test', 'restored');
    }
    const r = await request(publicUrl).get('/user/alice/tree').set({ cookie, ...jsonAccept });
    assert.equal(r.status, 200, r.text);
  });

  test("the hub's health and metrics endpoints keep reaching the hub in maintenance, so monitoring tells it from down", async () => {
    await running.maintenance.on('manual', 'restoring the hub database', 'pipeline test');
    try {
      for (const path of ['/hub/health', '/hub/api/health', '/hub/metrics']) {
        const before = hub.seen.length;
        const r = await request(publicUrl).get(path).set(jsonAccept);
        assert.equal(r.status, 200, `${path}: ${r.text}`);
        assert.equal(hub.seen.length, before + 1, `${path} did not reach the hub`);
      }
      assert.equal((await request(publicUrl).get('/hub/healthz').set(jsonAccept)).status, 503, 'only those three');
    } finally {
      await running.maintenance.off('pipeline test', 'restored');
    }
  });

  test("a hub redirect that sends alice into bob's server is replaced by the 403 page", async () => {
    const cookie = await aliceSession();
    hub.script('/hub/user-redirect/tree', { status: 302, headers: { location: '/user/bob/tree' } });
    try {
      const r = await request(publicUrl).get('/hub/user-redirect/tree').set({ cookie, ...jsonAccept });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.body.reason, 'redirect-to-other-user');
      assert.equal(r.headers.location, undefined);
    } finally {
      hub.unscript('/hub/user-redirect/tree');
    }
  });
});
