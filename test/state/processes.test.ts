// Two real hub-guard processes (`node dist/src/cli.js`) sharing one Redis behave as one proxy: maintenance, routes,
// sessions and last_activity cross between them. Then the same pair on a redis-server of the test's own that is
// killed and started again while they run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addHubRoutes, login, startGuard, type Guard } from '../helpers/guard.js';
import { send } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { dropPrefix, eventually, ownRedis, SHARED_PORT, uniquePrefix, type OwnRedis } from './redis.js';

const T = { timeout: 90_000 };

interface World {
  db: HubDbFixture;
  secret: Secret;
  hub: Upstream;
  servers: Record<string, Upstream>;
  a: Guard;
  b: Guard;
}

async function world(redisUrl: string, prefix: string): Promise<World> {
  const db = await makeHubDb({ allowed_users: ['alice', 'bob', 'carol'] });
  const secret = writeSecret(db.dir);
  const hub = await startUpstream('hub', { echoHeaders: true });
  const servers = { alice: await startUpstream('alice', { echoHeaders: true }), bob: await startUpstream('bob', { echoHeaders: true }) };
  const flags = ['--redis-url', redisUrl, '--redis-prefix', prefix, '--activity-interval', '0.2'];
  const operatorToken = 'operator-secret';
  const a = await startGuard({ db, secret, flags, operatorToken, metrics: true });
  const b = await startGuard({ db, secret, flags, operatorToken, metrics: true });
  return { db, secret, hub, servers, a, b };
}

async function teardown(w: World | undefined): Promise<void> {
  if (!w) return;
  await Promise.all([w.a.stop(), w.b.stop()]);
  await Promise.all([w.hub, ...Object.values(w.servers)].map((u) => u.stop()));
  w.db.remove();
}

const upstreamOf = (r: { status: number; text: string }) => (r.status === 200 ? (JSON.parse(r.text) as { upstream: string }).upstream : `status ${r.status}`);

async function stateStoreUp(g: Guard): Promise<string | undefined> {
  const r = await send(g.metricsPort!, 'GET', '/metrics');
  return /^hub_guard_state_store_up (\d)/m.exec(r.text)?.[1];
}

describe('two hub-guard processes on one Redis', () => {
  const prefix = uniquePrefix('processes');
  let w: World | undefined;

  before(async () => {
    w = await world(`redis://127.0.0.1:${SHARED_PORT}`, prefix);
    await addHubRoutes(w.a, w.hub, w.servers);
  });

  after(async () => {
    await teardown(w);
    await dropPrefix(SHARED_PORT, prefix);
  });

  test("routes added through A's API are proxied by B", T, async () => {
    const { a, b } = w!;
    await eventually("B to route /user/alice/ to alice's server", async () => (upstreamOf(await b.get('/user/alice/tree')) === 'alice' ? true : undefined), 5000);
    assert.equal(upstreamOf(await b.get('/hub/home')), 'hub');
    const routes = (await b.api('GET', '/api/routes')).json<Record<string, { target: string }>>();
    assert.deepEqual(Object.keys(routes).sort(), ['/', '/user/alice', '/user/bob']);
    await a.addRoute('/user/carol', { user: 'carol', server_name: '', target: w!.servers.bob.url });
    await eventually('B to have /user/carol', async () => ((await b.api('GET', '/api/routes/user/carol')).status === 200 ? true : undefined), 5000);
    assert.equal((await a.api('DELETE', '/api/routes/user/carol')).status, 204);
    await eventually('B to drop /user/carol', async () => ((await b.api('GET', '/api/routes/user/carol')).status === 404 ? true : undefined), 5000);
  });

  test('maintenance switched on through A: B answers 503 within a second; off: both serve', T, async () => {
    const { a, b } = w!;
    const on = await a.operator('PUT', '/api/guard/maintenance', { reason: 'Upgrading the hub' });
    assert.equal(on.status, 200);
    await eventually('B to answer 503', async () => ((await b.get('/user/alice/')).status === 503 ? true : undefined), 1000);
    assert.match((await b.get('/hub/home', { accept: 'application/json' })).text, /Upgrading the hub/);
    const status = (await b.operator('GET', '/api/guard/status')).json<{ history: { action: string; reason: string }[] }>();
    assert.ok(status.history.some((e) => e.action === 'on' && e.reason === 'Upgrading the hub'), "B's status shows A's audit entry");

    assert.equal((await a.operator('DELETE', '/api/guard/maintenance', { reason: 'done' })).status, 200);
    await eventually('B to serve again', async () => ((await b.get('/user/alice/')).status === 200 ? true : undefined), 1000);
    assert.equal(upstreamOf(await a.get('/user/alice/')), 'alice');
    assert.equal(upstreamOf(await b.get('/user/alice/')), 'alice');
  });

  test('a session minted by A is accepted by B', T, async () => {
    const { a, b, db, secret } = w!;
    const session = await login(a, secret.key, db.users.get('alice')!.cookieId);
    // B knows alice by A's session alone (no hub cookie): she is refused bob's server and let into her own
    const refused = await b.get('/user/bob/tree', { cookie: session, accept: 'application/json' });
    assert.equal(refused.status, 403);
    assert.match(refused.text, /other-user-server/);
    assert.equal(upstreamOf(await b.get('/user/alice/tree', { cookie: session })), 'alice');
    // a session B cannot verify identifies nobody, and an anonymous caller is the user server's to turn away
    const forged = `${session.slice(0, -4)}AAAA`;
    assert.equal(upstreamOf(await b.get('/user/bob/tree', { cookie: forged })), 'bob');
    // and X-Hub-Guard-User is signed with one key for both
    const jwks = await Promise.all([a, b].map(async (g) => (await send(g.apiPort, 'GET', '/.well-known/jwks.json')).text));
    assert.equal(jwks[0], jwks[1]);
  });

  test("last_activity from traffic on B shows in A's GET /api/routes", T, async () => {
    const { a, b } = w!;
    const lastActivity = async () => Date.parse((await a.api('GET', '/api/routes')).json<Record<string, { last_activity: string }>>()['/user/bob'].last_activity);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const since = Date.now();
    assert.ok((await lastActivity()) < since);
    assert.equal(upstreamOf(await b.get('/user/bob/api/status')), 'bob');
    const seen = await eventually("A to show B's activity", async () => {
      const t = await lastActivity();
      return t >= since ? t : undefined;
    }, 10_000);
    const onB = Date.parse((await b.api('GET', '/api/routes/user/bob')).json<{ last_activity: string }>().last_activity);
    assert.equal(seen, onB);
  });
});

describe('two hub-guard processes when their Redis dies and comes back empty', () => {
  let redis: OwnRedis | undefined;
  let w: World | undefined;

  before(async () => {
    redis = await ownRedis();
    await redis.start();
    w = await world(`redis://127.0.0.1:${redis.port}`, 'hub-guard:');
    await addHubRoutes(w.a, w.hub, w.servers);
    await eventually('B to route alice', async () => (upstreamOf(await w!.b.get('/user/alice/')) === 'alice' ? true : undefined), 5000);
  });

  after(async () => {
    await teardown(w);
    await redis?.stop();
  });

  test('they serve on, degraded; a change made meanwhile reaches the other replica when Redis is back', T, async () => {
    const { a, b } = w!;
    assert.equal(await stateStoreUp(a), '1');
    await redis!.kill();
    const ready = await eventually('A to say degraded', async () => {
      const r = await send(a.apiPort, 'GET', '/readyz');
      return r.json<{ state_store: string }>().state_store === 'degraded' ? r : undefined;
    });
    assert.equal(ready.status, 200, 'still ready: it serves on its last known state');
    assert.equal(await stateStoreUp(a), '0');
    assert.equal(upstreamOf(await a.get('/user/alice/')), 'alice');
    assert.equal(upstreamOf(await b.get('/user/bob/')), 'bob');

    assert.equal((await a.operator('PUT', '/api/guard/maintenance', { reason: 'Restoring while Redis is down' })).status, 200);
    assert.equal((await a.get('/user/alice/')).status, 503, 'A switches at once');
    assert.equal((await b.get('/user/alice/')).status, 200, 'B cannot know yet');

    await redis!.start();
    await eventually('B to answer 503', async () => ((await b.get('/user/alice/')).status === 503 ? true : undefined), 20_000);
    await eventually('A to be up again', async () => ((await send(a.apiPort, 'GET', '/readyz')).json<{ state_store: string }>().state_store === 'up' ? true : undefined), 20_000);
    assert.equal(await stateStoreUp(a), '1');
    // the routes were republished into the empty Redis: a third look through B's API finds them all
    const routes = (await b.api('GET', '/api/routes')).json<Record<string, unknown>>();
    assert.deepEqual(Object.keys(routes).sort(), ['/', '/user/alice', '/user/bob']);
  });
});
