// Proxying as JupyterHub relies on it, run unchanged against configurable-http-proxy 5.3 and hub-guard.
// Where the two are meant to differ (CHP bugs), the expected value is chosen per implementation and the
// comment says why.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { eventually } from '../helpers/eventually.js';
import { freePort } from '../helpers/ports.js';
import { startBackend, type Backend, type Seen } from '../helpers/backend.js';
import type { Reply } from '../helpers/http.js';
import { IMPLS, startProxy, proxied, addRoute, getRoutes, type RunningProxy } from '../helpers/proxies.js';

/** The backend's JSON echo of a proxied request. */
function echo(r: Reply): Seen {
  assert.equal(r.status, 200, `expected a backend answer, got ${r.status} ${r.text.slice(0, 200)}`);
  return r.json<Seen>();
}

async function stopAll(proxy: RunningProxy | undefined, backends: Backend[]): Promise<void> {
  await proxy?.stop();
  await Promise.all(backends.map((b) => b.stop()));
}

interface WsResult {
  /** X-Backend of the 101 answer. */
  backend: string | undefined;
  echoed: string;
}

/** Opens a websocket through the proxy, sends one message and waits for its echo. */
function wsEcho(proxy: RunningProxy, path: string, message: string, headers: Record<string, string> = {}): Promise<WsResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`, { headers });
    let backend: string | undefined;
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no echo on ${path}`)); }, 5000);
    ws.on('upgrade', (res) => { backend = res.headers['x-backend'] as string | undefined; });
    ws.on('open', () => ws.send(message));
    ws.on('message', (data) => {
      clearTimeout(timer);
      ws.close();
      resolve({ backend, echoed: data.toString() });
    });
    ws.on('unexpected-response', (_req, res) => { clearTimeout(timer); ws.terminate(); reject(new Error(`upgrade answered ${res.statusCode}`)); });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Opens a websocket that the proxy should refuse; resolves with the HTTP status it answered. */
function wsRefused(proxy: RunningProxy, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}${path}`);
    const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no answer on ${path}`)); }, 5000);
    ws.on('open', () => { clearTimeout(timer); ws.terminate(); reject(new Error(`upgrade on ${path} was accepted`)); });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Longest-prefix match on whole segments, empty segments included, as CHP's trie does. */
function routeFor(path: string, keys: string[]): string | undefined {
  const segs = path.split('/').slice(1);
  let best: string | undefined;
  let bestLen = -1;
  for (const key of keys) {
    const ks = key === '/' ? [] : key.split('/').slice(1);
    if (ks.length > segs.length || ks.length <= bestLen) continue;
    if (ks.every((s, i) => s === segs[i])) {
      best = key;
      bestLen = ks.length;
    }
  }
  return best;
}

/** RFC 3986 remove_dot_segments on an already decoded path. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split('/').slice(1);
  segs.forEach((s, i) => {
    const last = i === segs.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 0) out.pop();
      if (last) out.push('');
    } else {
      out.push(s);
    }
  });
  return '/' + out.join('/');
}

function decodedPath(url: string): string {
  return removeDotSegments(decodeURIComponent(url.split('?')[0]));
}

for (const impl of IMPLS) {
  describe(`${impl}: routing`, () => {
    let proxy: RunningProxy;
    const b: Record<string, Backend> = {};
    // route key → backend name; `dead` points at a closed port
    const table: Record<string, string> = {
      '/': 'hub',
      '/user/alice': 'alice',
      '/user/alice/gpu': 'alice-gpu',
      '/user/al': 'al',
      '/user/bob': 'bob',
      '/user/jane doe': 'jane',
      '/prefixed': 'prefixed',
    };
    const nameOfRoute = (key: string | undefined) => (key === undefined ? undefined : table[key]);

    before(async () => {
      for (const name of new Set(Object.values(table))) b[name] = await startBackend({ name });
      b.reset = await startBackend({ name: 'reset', reset: true });
      b.failing = await startBackend({ name: 'failing', status: 500 });
      proxy = await startProxy(impl);
      for (const [key, name] of Object.entries(table)) {
        const target = name === 'prefixed' ? `${b[name].url}/base/` : b[name].url;
        // Sent quoted, as JupyterHub does; the proxy stores the decoded key.
        await addRoute(proxy, key.split('/').map(encodeURIComponent).join('/'), { target, jupyterhub: true });
      }
      await addRoute(proxy, '/user/dead', { target: `http://127.0.0.1:${await freePort()}` });
      await addRoute(proxy, '/user/reset', { target: b.reset.url });
      await addRoute(proxy, '/user/failing', { target: b.failing.url });
    });
    after(async () => { await stopAll(proxy, Object.values(b)); });

    describe('prefix match', () => {
      const cases: [string, string, string][] = [
        ['/user/alice/tree', 'alice', 'the user route'],
        ['/user/alice', 'alice', 'no trailing slash'],
        ['/user/alice/', 'alice', 'trailing slash'],
        ['/user/alice//x', 'alice', 'an empty segment after the prefix'],
        ['/user/alice/gpu/lab', 'alice-gpu', 'the longer named-server prefix'],
        ['/user/alice/gpu2/lab', 'alice', 'a missing named server falls back to the default server'],
        ['/user/al/', 'al', '/user/al is its own route'],
        ['/user/al', 'al', '/user/al without slash'],
        ['/user/alic/', 'hub', 'a partial segment matches nothing but `/`'],
        ['/user/alicex/tree', 'hub', '/user/alice must not match /user/alicex'],
        ['/user/ALICE/', 'hub', 'matching is case-sensitive'],
        ['/hub/home', 'hub', 'fallback to `/`'],
        ['/', 'hub', 'the root itself'],
      ];
      for (const [path, want, why] of cases) {
        test(`${path} → ${want} (${why})`, async () => {
          const seen = echo(await proxied(proxy, 'GET', path));
          assert.equal(seen.name, want);
          assert.equal(seen.url, path, 'the path is forwarded unchanged');
        });
      }

      test('methods and bodies pass through', async () => {
        const seen = echo(await proxied(proxy, 'POST', '/user/bob/api/contents', { body: { type: 'notebook' } }));
        assert.equal(seen.name, 'bob');
        assert.equal(seen.method, 'POST');
        assert.deepEqual(JSON.parse(seen.body), { type: 'notebook' });
        const del = echo(await proxied(proxy, 'DELETE', '/user/bob/api/contents/x'));
        assert.equal(del.method, 'DELETE');
      });

      test('query strings are passed through unchanged', async () => {
        const path = '/user/alice/api/kernels?token=abc&x=%20y&z=a%2Fb&empty=';
        const seen = echo(await proxied(proxy, 'GET', path));
        assert.equal(seen.name, 'alice');
        assert.equal(seen.url, path);
      });

      test('a query string does not take part in routing', async () => {
        const seen = echo(await proxied(proxy, 'GET', '/user/al?next=/user/alice/'));
        assert.equal(seen.name, 'al');
      });

      test('a target with a path is prepended', async () => {
        const seen = echo(await proxied(proxy, 'GET', '/prefixed/x/y?q=1'));
        assert.equal(seen.name, 'prefixed');
        assert.equal(seen.url, '/base/prefixed/x/y?q=1');
      });

      test('request headers reach the server, including Authorization, Cookie and Referer', async () => {
        const headers = {
          authorization: 'token abc',
          cookie: 'jupyterhub-session-id=1; _xsrf=2',
          referer: 'http://example.org/hub/home',
          'x-custom': 'kept',
        };
        const seen = echo(await proxied(proxy, 'GET', '/user/bob/api/status', { headers }));
        for (const [k, v] of Object.entries(headers)) assert.equal(seen.headers[k], v, k);
      });

      test('/_chp_healthz answers 200 {"status":"OK"} without routing', async () => {
        const before = b.hub.seen.length;
        const r = await proxied(proxy, 'GET', '/_chp_healthz');
        assert.equal(r.status, 200);
        assert.match(String(r.headers['content-type']), /^application\/json/);
        assert.deepEqual(r.json(), { status: 'OK' });
        assert.equal(b.hub.seen.length, before);
      });
    });

    describe('upstream errors', () => {
      test('a closed target → 503', async () => {
        assert.equal((await proxied(proxy, 'GET', '/user/dead/tree')).status, 503);
      });

      test('a target that resets the connection → 503', async () => {
        assert.equal((await proxied(proxy, 'GET', '/user/reset/tree')).status, 503);
      });

      test("the server's own error status and body are relayed, not replaced", async () => {
        const r = await proxied(proxy, 'GET', '/user/failing/x');
        assert.equal(r.status, 500);
        assert.equal(r.json().name, 'failing');
      });
    });

    describe('x-forwarded', () => {
      test('X-Forwarded-For/-Proto/-Port/-Host are set', async () => {
        const seen = echo(await proxied(proxy, 'GET', '/user/alice/x'));
        assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(seen.headers['x-forwarded-proto'], 'http');
        assert.equal(seen.headers['x-forwarded-port'], String(proxy.port));
        assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${proxy.port}`);
        assert.equal(seen.headers.host, `127.0.0.1:${proxy.port}`, 'Host is kept (no --change-origin)');
      });

      test('existing X-Forwarded-For/-Proto/-Port are appended to; X-Forwarded-Host is kept', async () => {
        const seen = echo(await proxied(proxy, 'GET', '/user/alice/x', {
          headers: {
            'x-forwarded-for': '10.0.0.1',
            'x-forwarded-proto': 'https',
            'x-forwarded-port': '443',
            'x-forwarded-host': 'hub.example.org',
          },
        }));
        assert.equal(seen.headers['x-forwarded-for'], '10.0.0.1,127.0.0.1');
        assert.equal(seen.headers['x-forwarded-proto'], 'https,http');
        assert.equal(seen.headers['x-forwarded-port'], `443,${proxy.port}`);
        assert.equal(seen.headers['x-forwarded-host'], 'hub.example.org');
      });

      test('websocket upgrades get X-Forwarded-For/-Proto (ws)/-Port', async () => {
        const before = b.bob.seen.length;
        await wsEcho(proxy, '/user/bob/api/kernels/k/channels', 'hi');
        const up = b.bob.seen.slice(before).find((s) => s.upgrade);
        assert.ok(up, 'bob saw the upgrade');
        assert.equal(up.headers['x-forwarded-for'], '127.0.0.1');
        assert.equal(up.headers['x-forwarded-proto'], 'ws');
        assert.equal(up.headers['x-forwarded-port'], String(proxy.port));
      });
    });

    describe('websockets', () => {
      test('an upgrade reaches the right route and echoes', async () => {
        const before = b.alice.seen.length;
        const r = await wsEcho(proxy, '/user/alice/api/kernels/1/channels?session_id=s', 'ping alice');
        assert.equal(r.backend, 'alice');
        assert.equal(r.echoed, 'ping alice');
        const up = b.alice.seen.slice(before).find((s) => s.upgrade);
        assert.equal(up?.url, '/user/alice/api/kernels/1/channels?session_id=s');
      });

      test('upgrades follow the longest prefix too', async () => {
        assert.equal((await wsEcho(proxy, '/user/alice/gpu/terminals/websocket/1', 'gpu')).backend, 'alice-gpu');
        assert.equal((await wsEcho(proxy, '/user/al/terminals/websocket/1', 'al')).backend, 'al');
        assert.equal((await wsEcho(proxy, '/hub/whatever', 'hub')).backend, 'hub');
      });

      test('a large binary message round-trips', async () => {
        const big = 'x'.repeat(256 * 1024);
        assert.equal((await wsEcho(proxy, '/user/bob/api/kernels/2/channels', big)).echoed, big);
      });

      test('an upgrade to a closed target → 503', async () => {
        assert.equal(await wsRefused(proxy, '/user/dead/api/kernels/1/channels'), 503);
      });
    });

    describe('last_activity', () => {
      async function activity(key: string): Promise<number> {
        const v = (await getRoutes(proxy))[key]?.last_activity;
        assert.ok(typeof v === 'string', `${key} has last_activity`);
        return Date.parse(v);
      }

      test('a proxied request advances its own route only', async () => {
        const bob0 = await activity('/user/bob');
        // jane's route sees no other traffic before this test (al's may still get a late websocket frame).
        const jane0 = await activity('/user/jane doe');
        // Timestamps have millisecond resolution; wait past it so "later" is observable.
        await sleep(20);
        echo(await proxied(proxy, 'GET', '/user/bob/api/status'));
        // the proxy updates last_activity after it has answered: polled every 25 ms until the assertion holds, for 5 s
        await eventually('bob advanced', async () => { assert.ok((await activity('/user/bob')) > bob0, 'bob advanced'); return true; }, 5000, 25);
        assert.equal(await activity('/user/jane doe'), jane0, 'jane did not move');
      });

      test('websocket traffic advances the route', async () => {
        const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/user/al/api/kernels/3/channels`);
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        try {
          const t0 = await activity('/user/al');
          await sleep(20);
          const got = new Promise((resolve) => ws.once('message', resolve));
          ws.send('keepalive');
          await got;
          await eventually('al advanced', async () => { assert.ok((await activity('/user/al')) > t0, 'al advanced'); return true; }, 5000, 25);
        } finally {
          ws.terminate();
        }
      });
    });

    describe('decoded routing', () => {
      test('/user/ali%63e/ → alice', async () => {
        const seen = echo(await proxied(proxy, 'GET', '/user/ali%63e/tree'));
        assert.equal(seen.name, 'alice');
        assert.equal(decodedPath(seen.url), '/user/alice/tree');
      });

      test('/user/jane%20doe/ → the `/user/jane doe` route', async () => {
        const seen = echo(await proxied(proxy, 'GET', '/user/jane%20doe/lab?x=1'));
        assert.equal(seen.name, 'jane');
        assert.equal(decodedPath(seen.url), '/user/jane doe/lab');
      });

      // CHP 5.3 calls decodeURIComponent outside any try and answers 500; a malformed request is the
      // client's error, so hub-guard answers 400. Neither may reach a server.
      for (const path of ['/user/alice/%E0%A4%A', '/user/alice/%', '/user/alice/%zz/x']) {
        test(`a malformed percent-escape ${path} → ${impl === 'chp' ? 500 : 400}, reaching no server`, async () => {
          const counts = Object.values(b).map((x) => x.seen.length);
          const r = await proxied(proxy, 'GET', path);
          assert.equal(r.status, impl === 'chp' ? 500 : 400);
          assert.deepEqual(Object.values(b).map((x) => x.seen.length), counts);
        });
      }
    });

    describe('dot segments, `//` and `\\` (facts §7 pitfall 1)', () => {
      interface Case {
        path: string;
        /** What CHP 5.3 does (the backend that answers and the URL it receives); hub-guard must match it unless chpBug. */
        chp: { to: string; url: string };
        /** Why CHP's answer is a bug; hub-guard must instead refuse or keep the property below. */
        chpBug?: string;
      }
      // CHP 5.3 routes on `new URL(req.url).pathname`, which collapses `.`/`..` (also `%2e`) and turns `\`
      // into `/`, then percent-decodes; it forwards the WHATWG-normalised path (not decoded). So literal dot
      // segments are consistent: the server that gets the request gets a path inside its own prefix.
      // Encoded slashes are decoded *after* dot removal, so `alice%2F..%2Fbob` is matched as alice while the
      // path names bob's server once decoded: routing and path disagree.
      const cases: Case[] = [
        { path: '/user/alice/./tree', chp: { to: 'alice', url: '/user/alice/tree' } },
        { path: '/user/alice/../bob/tree', chp: { to: 'bob', url: '/user/bob/tree' } },
        { path: '/user/alice/%2e%2e/bob/tree', chp: { to: 'bob', url: '/user/bob/tree' } },
        { path: '/user/alice/%2E%2E/bob/tree', chp: { to: 'bob', url: '/user/bob/tree' } },
        { path: '/user/bob/../../user/alice/', chp: { to: 'alice', url: '/user/alice/' } },
        { path: '/user/alice/../../../etc/passwd', chp: { to: 'hub', url: '/etc/passwd' } },
        { path: '/user/alice/gpu/../tree', chp: { to: 'alice', url: '/user/alice/tree' } },
        { path: '/user/al/../alice/x', chp: { to: 'alice', url: '/user/alice/x' } },
        // An empty segment is a segment: `/user//alice/` is not alice's (facts §7 pitfall 3).
        { path: '/user//alice/', chp: { to: 'hub', url: '/user//alice/' } },
        // A request target starting with `//` is read as an authority by WHATWG URL: CHP routes on
        // pathname `/alice/` (→ `/`) and forwards `//user/alice/` unchanged to the hub.
        { path: '//user/alice/', chp: { to: 'hub', url: '//user/alice/' } },
        { path: '/user\\alice/tree', chp: { to: 'alice', url: '/user/alice/tree' } },
        { path: '/user/alice\\..\\bob/tree', chp: { to: 'bob', url: '/user/bob/tree' } },
        {
          path: '/user/alice%2F..%2Fbob/tree',
          chp: { to: 'alice', url: '/user/alice%2F..%2Fbob/tree' },
          chpBug: 'matched as alice, but decoded the path is /user/alice/../bob/tree, i.e. bob\'s',
        },
        {
          path: '/user/alice/..%2Fbob/tree',
          chp: { to: 'alice', url: '/user/alice/..%2Fbob/tree' },
          chpBug: 'matched as alice, but decoded the path is /user/alice/../bob/tree, i.e. bob\'s',
        },
        {
          path: '/user/bob/%2e%2e%2Falice/tree',
          chp: { to: 'bob', url: '/user/bob/%2e%2e%2Falice/tree' },
          chpBug: 'matched as bob, but decoded the path is /user/bob/../alice/tree, i.e. alice\'s',
        },
      ];

      // The property every implementation must keep: either the request is refused (4xx, no server sees
      // it), or the server that answers receives a path that, decoded once and with dot segments removed,
      // still routes to that same server. Then the route the guard authorises is the route whose server
      // handles the request.
      async function assertConsistent(path: string): Promise<void> {
        const counts = Object.fromEntries(Object.entries(b).map(([n, x]) => [n, x.seen.length]));
        const r = await proxied(proxy, 'GET', path);
        const reached = Object.entries(b).filter(([n, x]) => x.seen.length > counts[n]).map(([n]) => n);
        if (r.status >= 400 && r.status < 500 && reached.length === 0) return;
        const seen = echo(r);
        assert.deepEqual(reached, [seen.name], 'exactly one server saw the request');
        const owner = nameOfRoute(routeFor(decodedPath(seen.url), Object.keys(table)));
        assert.equal(owner, seen.name, `${seen.name} received ${seen.url}, which decodes to ${owner}'s route`);
      }

      for (const c of cases) {
        if (!c.chpBug) {
          test(`${c.path} → ${c.chp.to} as ${c.chp.url}`, async () => {
            const seen = echo(await proxied(proxy, 'GET', c.path));
            assert.equal(seen.name, c.chp.to);
            assert.equal(seen.url, c.chp.url);
            await assertConsistent(c.path);
          });
        } else if (impl === 'chp') {
          test(`${c.path} → ${c.chp.to} as ${c.chp.url} (CHP bug: ${c.chpBug})`, async () => {
            const seen = echo(await proxied(proxy, 'GET', c.path));
            assert.equal(seen.name, c.chp.to);
            assert.equal(seen.url, c.chp.url);
          });
        } else {
          test(`${c.path}: refused, or the receiving server's path stays inside its own route (CHP bug: ${c.chpBug})`, async () => {
            await assertConsistent(c.path);
          });
        }
      }
    });
  });

  describe(`${impl}: no route`, () => {
    let proxy: RunningProxy;
    before(async () => { proxy = await startProxy(impl); });
    after(async () => { await proxy?.stop(); });

    test('no route at all → 404', async () => {
      assert.equal((await proxied(proxy, 'GET', '/user/nobody/tree')).status, 404);
      assert.equal((await proxied(proxy, 'POST', '/', { body: {} })).status, 404);
    });

    test('a websocket with no route → 404', async () => {
      assert.equal(await wsRefused(proxy, '/user/nobody/api/kernels/1/channels'), 404);
    });

    test('/_chp_healthz still answers', async () => {
      assert.deepEqual((await proxied(proxy, 'GET', '/_chp_healthz')).json(), { status: 'OK' });
    });
  });

  describe(`${impl}: --no-include-prefix`, () => {
    let proxy: RunningProxy;
    const backends: Backend[] = [];
    before(async () => {
      const [hub, alice, prefixed] = await Promise.all(['hub', 'alice', 'prefixed'].map((name) => startBackend({ name })));
      backends.push(hub, alice, prefixed);
      proxy = await startProxy(impl, ['--no-include-prefix']);
      await addRoute(proxy, '/', { target: hub.url });
      await addRoute(proxy, '/user/alice', { target: alice.url });
      await addRoute(proxy, '/prefixed', { target: `${prefixed.url}/base` });
    });
    after(async () => { await stopAll(proxy, backends); });

    const cases: [string, string, string][] = [
      ['/user/alice/tree?x=1', 'alice', '/tree?x=1'],
      ['/user/alice/', 'alice', '/'],
      ['/user/alice', 'alice', '/'],
      ['/user/alice?x=1', 'alice', '/?x=1'],
      ['/hub/home', 'hub', '/hub/home'],
      ['/prefixed/x', 'prefixed', '/base/x'],
    ];
    for (const [path, to, url] of cases) {
      test(`${path} → ${to} as ${url}`, async () => {
        const seen = echo(await proxied(proxy, 'GET', path));
        assert.equal(seen.name, to);
        assert.equal(seen.url, url);
      });
    }

    // CHP 5.3 cuts req.url at the length of the *decoded* prefix, so an escaped prefix loses the wrong
    // characters: `/user/ali%63e/tree` minus len('/user/alice') leaves `3e/tree`.
    test(`an escaped prefix is stripped whole (CHP bug: ${impl === 'chp' ? 'cuts by decoded length' : 'fixed'})`, async () => {
      const seen = echo(await proxied(proxy, 'GET', '/user/ali%63e/tree'));
      assert.equal(seen.name, 'alice');
      assert.equal(seen.url, impl === 'chp' ? '/3e/tree' : '/tree');
    });
  });

  describe(`${impl}: --no-prepend-path`, () => {
    let proxy: RunningProxy;
    let prefixed: Backend;
    before(async () => {
      prefixed = await startBackend({ name: 'prefixed' });
      proxy = await startProxy(impl, ['--no-prepend-path']);
      await addRoute(proxy, '/prefixed', { target: `${prefixed.url}/base/` });
    });
    after(async () => { await stopAll(proxy, [prefixed]); });

    test("the target's path is not prepended", async () => {
      const seen = echo(await proxied(proxy, 'GET', '/prefixed/x/y?q=1'));
      assert.equal(seen.url, '/prefixed/x/y?q=1');
    });
  });

  describe(`${impl}: --no-x-forward and --custom-header`, () => {
    let proxy: RunningProxy;
    let alice: Backend;
    before(async () => {
      alice = await startBackend({ name: 'alice' });
      proxy = await startProxy(impl, ['--no-x-forward', '--custom-header', 'X-One:1', '--custom-header', ' X-Two : two words ']);
      await addRoute(proxy, '/user/alice', { target: alice.url });
    });
    after(async () => { await stopAll(proxy, [alice]); });

    test('no X-Forwarded-* headers are added', async () => {
      const seen = echo(await proxied(proxy, 'GET', '/user/alice/x'));
      for (const h of ['for', 'proto', 'port', 'host']) assert.equal(seen.headers[`x-forwarded-${h}`], undefined, h);
    });

    test("a client's own X-Forwarded-For passes unchanged", async () => {
      const seen = echo(await proxied(proxy, 'GET', '/user/alice/x', { headers: { 'x-forwarded-for': '10.0.0.1' } }));
      assert.equal(seen.headers['x-forwarded-for'], '10.0.0.1');
    });

    test('every --custom-header is added, trimmed', async () => {
      const seen = echo(await proxied(proxy, 'GET', '/user/alice/x'));
      assert.equal(seen.headers['x-one'], '1');
      assert.equal(seen.headers['x-two'], 'two words');
    });

    test('custom headers are added to websocket upgrades too', async () => {
      const before = alice.seen.length;
      await wsEcho(proxy, '/user/alice/api/kernels/1/channels', 'hi');
      const up = alice.seen.slice(before).find((s) => s.upgrade);
      assert.equal(up?.headers['x-one'], '1');
      assert.equal(up?.headers['x-two'], 'two words');
      assert.equal(up?.headers['x-forwarded-for'], undefined);
    });
  });

  describe(`${impl}: --host-routing`, () => {
    let proxy: RunningProxy;
    const backends: Backend[] = [];
    before(async () => {
      const [hub, alice, bob] = await Promise.all(['hub', 'alice', 'bob'].map((name) => startBackend({ name })));
      backends.push(hub, alice, bob);
      proxy = await startProxy(impl, ['--host-routing']);
      await addRoute(proxy, '/', { target: hub.url, jupyterhub: true });
      await addRoute(proxy, '/alice.hub.example/', { target: alice.url, jupyterhub: true, user: 'alice' });
      await addRoute(proxy, '/bob.hub.example/user/bob', { target: bob.url, jupyterhub: true, user: 'bob' });
    });
    after(async () => { await stopAll(proxy, backends); });

    test('route keys begin with the host, and get a `host` field', async () => {
      const routes = await getRoutes(proxy);
      assert.deepEqual(Object.keys(routes).sort(), ['/', '/alice.hub.example', '/bob.hub.example/user/bob']);
      assert.equal(routes['/alice.hub.example'].host, 'alice.hub.example');
      assert.equal(routes['/bob.hub.example/user/bob'].host, 'bob.hub.example');
      assert.equal(routes['/'].host, undefined);
      assert.equal(routes['/alice.hub.example'].user, 'alice');
    });

    const cases: [string, string, string, string][] = [
      ['alice.hub.example', '/tree', 'alice', 'host only'],
      ['alice.hub.example:8000', '/tree', 'alice', 'the port is ignored'],
      ['bob.hub.example', '/user/bob/lab', 'bob', 'host plus path'],
      ['bob.hub.example', '/user/alice/lab', 'hub', 'the path under the host must match too'],
      ['carol.hub.example', '/tree', 'hub', 'unknown host → `/`'],
      ['hub.example', '/alice.hub.example/tree', 'hub', 'the host cannot be smuggled into the path'],
    ];
    for (const [host, path, to, why] of cases) {
      test(`Host ${host} ${path} → ${to} (${why})`, async () => {
        const seen = echo(await proxied(proxy, 'GET', path, { headers: { host } }));
        assert.equal(seen.name, to);
        assert.equal(seen.url, path, 'the path is forwarded without the host');
        assert.equal(seen.headers.host, host);
      });
    }
  });

  describe(`${impl}: --error-target`, () => {
    let proxy: RunningProxy;
    let errors: Backend;
    before(async () => {
      errors = await startBackend({ name: 'errors' });
      // As JupyterHub passes it: <hub>/hub/error
      proxy = await startProxy(impl, ['--error-target', `${errors.url}/hub/error`]);
      await addRoute(proxy, '/user/dead', { target: `http://127.0.0.1:${await freePort()}` });
    });
    after(async () => { await stopAll(proxy, [errors]); });

    async function errorPage(method: string, path: string, code: number): Promise<void> {
      const r = await proxied(proxy, method, path);
      assert.equal(r.status, code, 'the original code, not the error server\'s 200');
      assert.match(String(r.headers['content-type']), /^application\/json/, 'content-type relayed');
      const seen = r.json<Seen>();
      assert.equal(seen.name, 'errors');
      assert.equal(seen.method, 'GET');
      const asked = new URL(seen.url, 'http://x');
      assert.equal(asked.pathname, `/hub/error/${code}`);
      assert.equal(asked.searchParams.get('url'), path);
    }

    test('no route → GET <target>/404?url=<original url>, relayed as 404', async () => {
      await errorPage('GET', '/user/nobody/tree?a=1&b=/x', 404);
    });

    test('dead target → GET <target>/503?url=…, relayed as 503, also for POST', async () => {
      await errorPage('GET', '/user/dead/api/kernels', 503);
      await errorPage('POST', '/user/dead/api/kernels', 503);
    });
  });

  describe(`${impl}: --error-target that is down`, () => {
    let proxy: RunningProxy;
    before(async () => { proxy = await startProxy(impl, ['--error-target', `http://127.0.0.1:${await freePort()}/hub/error`]); });
    after(async () => { await proxy?.stop(); });

    test('the bare status is still answered', async () => {
      assert.equal((await proxied(proxy, 'GET', '/user/nobody/')).status, 404);
    });
  });

  describe(`${impl}: --error-path and --proxy-timeout`, () => {
    let proxy: RunningProxy;
    let dir: string;
    const backends: Backend[] = [];
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'parity-errors-'));
      writeFileSync(join(dir, '404.html'), '<p>custom 404</p>');
      writeFileSync(join(dir, 'error.html'), '<p>custom error</p>');
      const [slow, reset] = await Promise.all([startBackend({ name: 'slow', delayMs: 10000 }), startBackend({ name: 'reset', reset: true })]);
      backends.push(slow, reset);
      proxy = await startProxy(impl, ['--error-path', dir, '--proxy-timeout', '300']);
      await addRoute(proxy, '/user/dead', { target: `http://127.0.0.1:${await freePort()}` });
      await addRoute(proxy, '/user/slow', { target: slow.url });
      await addRoute(proxy, '/user/reset', { target: reset.url });
    });
    after(async () => {
      await stopAll(proxy, backends);
      rmSync(dir, { recursive: true, force: true });
    });

    async function page(path: string, code: number, body: string): Promise<void> {
      const r = await proxied(proxy, 'GET', path);
      assert.equal(r.status, code);
      assert.match(String(r.headers['content-type']), /^text\/html/);
      assert.equal(r.text, body);
    }

    test('no route → <error-path>/404.html', async () => {
      await page('/user/nobody/', 404, '<p>custom 404</p>');
    });

    test('dead target → 503 with error.html (no 503.html)', async () => {
      await page('/user/dead/', 503, '<p>custom error</p>');
    });

    test('reset → 503 with error.html', async () => {
      await page('/user/reset/', 503, '<p>custom error</p>');
    });

    test('no answer within --proxy-timeout → 503 with error.html', async () => {
      await page('/user/slow/', 503, '<p>custom error</p>');
    });
  });
}

