// The CHP REST API as JupyterHub uses it, run unchanged against configurable-http-proxy 5.3 and hub-guard.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { IMPLS, startProxy, api, addRoute, getRoutes, type RunningProxy } from '../helpers/proxies.js';

const ISO_MS_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const TARGET = 'http://127.0.0.1:9';

for (const impl of IMPLS) {
  describe(`${impl}: REST API`, () => {
    let proxy: RunningProxy;
    before(async () => { proxy = await startProxy(impl); });
    after(async () => { await proxy?.stop(); });

    describe('auth', () => {
      test('no Authorization header → 403 with an empty body', async () => {
        const r = await api(proxy, 'GET', '/api/routes', undefined, { authorization: undefined });
        assert.equal(r.status, 403);
        assert.equal(r.text, '');
      });

      test('wrong token → 403 with an empty body', async () => {
        const r = await api(proxy, 'GET', '/api/routes', undefined, { authorization: 'token not-the-token' });
        assert.equal(r.status, 403);
        assert.equal(r.text, '');
      });

      test('the right token as Bearer → 403 with an empty body (CHP only knows `token`)', async () => {
        const r = await api(proxy, 'GET', '/api/routes', undefined, { authorization: `Bearer ${proxy.token}` });
        assert.equal(r.status, 403);
        assert.equal(r.text, '');
      });

      test('a refused POST changes nothing', async () => {
        const r = await api(proxy, 'POST', '/api/routes/user/mallory', { target: TARGET }, { authorization: 'token nope' });
        assert.equal(r.status, 403);
        assert.equal((await api(proxy, 'GET', '/api/routes/user/mallory')).status, 404);
      });

      test('the right token → 200', async () => {
        const r = await api(proxy, 'GET', '/api/routes');
        assert.equal(r.status, 200);
      });
    });

    describe('routes', () => {
      test('GET /api/routes starts empty, as JSON', async () => {
        const r = await api(proxy, 'GET', '/api/routes');
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.deepEqual(r.json(), {});
      });

      test('POST → 201 with an empty body; the whole body becomes the route data', async () => {
        const data = {
          target: TARGET,
          jupyterhub: true,
          user: 'Jane.Doe@example.com',
          server_name: '',
          nested: { list: [1, 'two', null], flag: false },
        };
        const r = await api(proxy, 'POST', '/api/routes/user/jane.doe@example.com', data);
        assert.equal(r.status, 201);
        assert.equal(r.text, '');

        const routes = await getRoutes(proxy);
        const { last_activity, ...rest } = routes['/user/jane.doe@example.com'];
        assert.deepEqual(rest, data);
        assert.match(last_activity, ISO_MS_Z);
      });

      test('GET one route → 200 with the same object GET /api/routes lists', async () => {
        await addRoute(proxy, '/user/one', { target: TARGET, jupyterhub: true, user: 'one', server_name: '' });
        const r = await api(proxy, 'GET', '/api/routes/user/one');
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^application\/json/);
        const one = r.json();
        assert.deepEqual(one, (await getRoutes(proxy))['/user/one']);
        assert.equal(one.user, 'one');
        assert.equal(one.target, TARGET);
        assert.match(one.last_activity, ISO_MS_Z);
      });

      test('GET a missing route → 404 with an empty body', async () => {
        const r = await api(proxy, 'GET', '/api/routes/user/nobody');
        assert.equal(r.status, 404);
        assert.equal(r.text, '');
      });

      test('POST again replaces the data', async () => {
        await addRoute(proxy, '/user/two', { target: TARGET, jupyterhub: true, user: 'two', old: 1 });
        await addRoute(proxy, '/user/two', { target: 'http://127.0.0.1:10', jupyterhub: true, user: 'two' });
        const { last_activity, ...rest } = (await api(proxy, 'GET', '/api/routes/user/two')).json();
        assert.deepEqual(rest, { target: 'http://127.0.0.1:10', jupyterhub: true, user: 'two' });
        assert.match(last_activity, ISO_MS_Z);
      });

      test('DELETE → 204, then the route is gone and a second DELETE → 404', async () => {
        await addRoute(proxy, '/user/gone', { target: TARGET });
        const del = await api(proxy, 'DELETE', '/api/routes/user/gone');
        assert.equal(del.status, 204);
        assert.equal(del.text, '');
        assert.equal((await api(proxy, 'GET', '/api/routes/user/gone')).status, 404);
        assert.equal((await getRoutes(proxy))['/user/gone'], undefined);
        const again = await api(proxy, 'DELETE', '/api/routes/user/gone');
        assert.equal(again.status, 404);
      });

      test('POST /api/routes with no path adds `/`', async () => {
        await addRoute(proxy, '', { target: TARGET, jupyterhub: true, hub: true });
        const routes = await getRoutes(proxy);
        assert.equal(routes['/']?.target, TARGET);
        assert.equal(routes['/']?.hub, true);
        assert.equal((await api(proxy, 'DELETE', '/api/routes/')).status, 204);
        assert.equal((await getRoutes(proxy))['/'], undefined);
      });
    });

    describe('keys', () => {
      test('percent-escapes are decoded and the trailing slash removed (JupyterHub re-quotes them)', async () => {
        const r = await api(proxy, 'POST', '/api/routes/user/jane%20doe/', { target: TARGET, jupyterhub: true, user: 'jane doe', server_name: '' });
        assert.equal(r.status, 201);
        const routes = await getRoutes(proxy);
        assert.ok('/user/jane doe' in routes, `keys: ${Object.keys(routes).join(', ')}`);
        assert.ok(!('/user/jane%20doe' in routes) && !('/user/jane doe/' in routes));
        assert.equal((await api(proxy, 'GET', '/api/routes/user/jane%20doe')).status, 200);
        assert.equal((await api(proxy, 'GET', '/api/routes/user/jane%20doe/')).status, 200);
      });

      test('UTF-8 and `+` in names round-trip decoded', async () => {
        await addRoute(proxy, '/user/j%C3%BCrgen%2B1/', { target: TARGET, user: 'jürgen+1' });
        const routes = await getRoutes(proxy);
        assert.equal(routes['/user/jürgen+1']?.user, 'jürgen+1');
      });

      test('named server keys keep both segments', async () => {
        await addRoute(proxy, '/user/three/gpu%201/', { target: TARGET, user: 'three', server_name: 'gpu 1' });
        assert.equal((await getRoutes(proxy))['/user/three/gpu 1']?.server_name, 'gpu 1');
      });

      test('DELETE with a trailing slash and escapes removes the decoded key', async () => {
        await addRoute(proxy, '/user/del%20me', { target: TARGET });
        assert.equal((await api(proxy, 'DELETE', '/api/routes/user/del%20me/')).status, 204);
        assert.equal((await getRoutes(proxy))['/user/del me'], undefined);
      });
    });

    describe('bad input', () => {
      test('POST without target → 400', async () => {
        const r = await api(proxy, 'POST', '/api/routes/user/bad', { user: 'bad' });
        assert.equal(r.status, 400);
        assert.match(r.text, /target/);
        assert.equal((await api(proxy, 'GET', '/api/routes/user/bad')).status, 404);
      });

      for (const target of [42, null, ['http://127.0.0.1:9'], { url: TARGET }, true]) {
        test(`POST with a non-string target ${JSON.stringify(target)} → 400`, async () => {
          const r = await api(proxy, 'POST', '/api/routes/user/bad', { target });
          assert.equal(r.status, 400);
          assert.match(r.text, /target/);
          assert.equal((await api(proxy, 'GET', '/api/routes/user/bad')).status, 404);
        });
      }

      test('malformed JSON → 400', async () => {
        const r = await api(proxy, 'POST', '/api/routes/user/bad', '{"target": "http://127.0.0.1:9"', { 'content-type': 'application/json' });
        assert.equal(r.status, 400);
        assert.equal((await api(proxy, 'GET', '/api/routes/user/bad')).status, 404);
      });

      test('empty body → 400', async () => {
        const r = await api(proxy, 'POST', '/api/routes/user/bad', '');
        assert.equal(r.status, 400);
      });

      test('a JSON body that is not an object → 400', async () => {
        for (const body of ['"http://127.0.0.1:9"', '[1,2]', '7']) {
          const r = await api(proxy, 'POST', '/api/routes/user/bad', body);
          assert.equal(r.status, 400, `body ${body}`);
        }
        assert.equal((await api(proxy, 'GET', '/api/routes/user/bad')).status, 404);
      });

      for (const method of ['PUT', 'PATCH']) {
        test(`${method} /api/routes → 405`, async () => {
          assert.equal((await api(proxy, method, '/api/routes', { target: TARGET })).status, 405);
          assert.equal((await api(proxy, method, '/api/routes/user/x', { target: TARGET })).status, 405);
        });
      }

      for (const path of ['/', '/api', '/api/route', '/api/routesx', '/api/other/routes']) {
        test(`GET ${path} → 404`, async () => {
          assert.equal((await api(proxy, 'GET', path)).status, 404);
        });
      }
    });

    describe('inactive_since', () => {
      let older: string;
      let newer: string;
      before(async () => {
        await addRoute(proxy, '/idle/older', { target: TARGET });
        // Distinct millisecond timestamps, so "earlier than" can separate the two routes.
        await sleep(20);
        await addRoute(proxy, '/idle/newer', { target: TARGET });
        const routes = await getRoutes(proxy);
        older = routes['/idle/older'].last_activity;
        newer = routes['/idle/newer'].last_activity;
        assert.ok(Date.parse(older) < Date.parse(newer), `${older} < ${newer}`);
      });

      for (const param of ['inactive_since', 'inactiveSince']) {
        test(`?${param}= keeps routes whose last_activity is strictly earlier`, async () => {
          const some = await getRoutes(proxy, `?${param}=${encodeURIComponent(newer)}`);
          assert.ok('/idle/older' in some);
          assert.ok(!('/idle/newer' in some));

          const none = await getRoutes(proxy, `?${param}=2000-01-01T00:00:00.000Z`);
          assert.deepEqual(none, {});

          const all = await getRoutes(proxy, `?${param}=2999-01-01T00:00:00.000Z`);
          assert.deepEqual(Object.keys(all).sort(), Object.keys(await getRoutes(proxy)).sort());
        });
      }

      test('a date without time zone or milliseconds is accepted', async () => {
        const all = await getRoutes(proxy, '?inactive_since=2999-01-01');
        assert.ok('/idle/older' in all && '/idle/newer' in all);
      });

      test("a bad date → 400 with CHP's message", async () => {
        for (const param of ['inactive_since', 'inactiveSince']) {
          const r = await api(proxy, 'GET', `/api/routes?${param}=yesterday-ish`);
          assert.equal(r.status, 400);
          assert.equal(r.text, "Invalid datestamp 'yesterday-ish' must be ISO8601.");
        }
      });
    });
  });

  describe(`${impl}: REST API with --default-target`, () => {
    let proxy: RunningProxy;
    before(async () => { proxy = await startProxy(impl, ['--default-target', 'http://127.0.0.1:7']); });
    after(async () => { await proxy?.stop(); });

    test('`/` holds only target and last_activity (no jupyterhub flag)', async () => {
      const routes = await getRoutes(proxy);
      assert.deepEqual(Object.keys(routes), ['/']);
      const { last_activity, ...rest } = routes['/'];
      assert.deepEqual(rest, { target: 'http://127.0.0.1:7' });
      assert.match(last_activity, ISO_MS_Z);
    });

    test('the hub can overwrite `/` with its own route', async () => {
      await addRoute(proxy, '/', { target: 'http://127.0.0.1:8', jupyterhub: true, hub: true });
      const { last_activity, ...rest } = (await getRoutes(proxy))['/'];
      assert.deepEqual(rest, { target: 'http://127.0.0.1:8', jupyterhub: true, hub: true });
      assert.match(last_activity, ISO_MS_Z);
    });
  });
}
