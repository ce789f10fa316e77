// Request-level abuse with raw sockets against a real hub-guard (guard on): request smuggling, pipelining, oversized
// headers, slow clients, oversized and malformed API bodies, wrong tokens; and how tokens are compared.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { randomBytes } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tokensEqual } from '../../src/tokens.js';
import { addRoute, login, startGuard, type Guard } from '../helpers/guard.js';
import { get, request } from '../helpers/http.js';
import { makeHubDb } from '../helpers/hub-db.js';
import { raw } from '../helpers/raw.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HEADERS_TIMEOUT_MS = 1000;

describe('request abuse on the public and API ports', () => {
  let tmp: Scratch;
  let guard: Guard;
  let hub: Upstream;
  let aliceUp: Upstream;
  let bobUp: Upstream;
  let alice: string;
  const operatorToken = randomBytes(16).toString('hex');
  const upstreamRequests = () => hub.seen.length + aliceUp.seen.length + bobUp.seen.length;

  before(async () => {
    tmp = scratch();
    const db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    const secret = writeSecret(tmp.dir);
    [hub, aliceUp, bobUp] = [await startUpstream('hub'), await startUpstream('alice'), await startUpstream('bob')];
    guard = await startGuard({
      flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--headers-timeout', String(HEADERS_TIMEOUT_MS)],
      env: { HUB_GUARD_OPERATOR_TOKEN: operatorToken },
    });
    await addRoute(guard, '/', { hub: true, target: hub.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', target: aliceUp.url });
    await addRoute(guard, '/user/bob', { user: 'bob', server_name: '', target: bobUp.url });
    alice = `${hubCookie(secret.key, db.users.get('alice')!.cookieId)}; ${await login(guard, secret.key, db.users.get('alice')!.cookieId)}`;
  });
  after(async () => {
    await guard?.stop();
    for (const u of [hub, aliceUp, bobUp]) await u?.stop();
    tmp?.remove();
  });

  /** A POST to alice's server whose body, read the other way, holds a second request for bob's server. */
  function smuggle(headers: string[], body: string): string {
    return `POST /user/alice/api/contents HTTP/1.1\r\nHost: x\r\nCookie: ${alice}\r\n${headers.join('\r\n')}\r\n\r\n${body}`;
  }
  const SMUGGLED = 'GET /user/bob/api/contents HTTP/1.1\r\nHost: x\r\n\r\n';
  const CHUNKED = `0\r\n\r\n${SMUGGLED}`;

  test('conflicting Content-Length and Transfer-Encoding: 400, nothing smuggled upstream', async () => {
    const variants: Array<[string, string]> = [
      ['CL then TE', smuggle([`Content-Length: ${CHUNKED.length}`, 'Transfer-Encoding: chunked'], CHUNKED)],
      ['TE then CL', smuggle(['Transfer-Encoding: chunked', `Content-Length: ${CHUNKED.length}`], CHUNKED)],
      ['CL.CL', smuggle(['Content-Length: 0', `Content-Length: ${SMUGGLED.length}`], SMUGGLED)],
      ['CL list', smuggle([`Content-Length: 0, ${SMUGGLED.length}`], SMUGGLED)],
      ['TE with space before colon', smuggle(['Transfer-Encoding : chunked', `Content-Length: ${CHUNKED.length}`], CHUNKED)],
      ['TE folded', smuggle(['Transfer-Encoding:', ' chunked', `Content-Length: ${CHUNKED.length}`], CHUNKED)],
      ['TE not ending in chunked', smuggle(['Transfer-Encoding: chunked, identity', `Content-Length: ${CHUNKED.length}`], CHUNKED)],
      ['TE unknown coding', smuggle(['Transfer-Encoding: xchunked', `Content-Length: ${CHUNKED.length}`], CHUNKED)],
      ['TE twice', smuggle(['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], CHUNKED)],
      ['CL with sign', smuggle([`Content-Length: +${SMUGGLED.length}`], SMUGGLED)],
      ['chunk size overflow', smuggle(['Transfer-Encoding: chunked'], `fffffffffffffffff1\r\nx\r\n${CHUNKED}`)],
      ['bare LF line ends', `POST /user/alice/api/contents HTTP/1.1\nHost: x\nCookie: ${alice}\nTransfer-Encoding: chunked\nContent-Length: ${CHUNKED.length}\n\n${CHUNKED}`],
    ];
    const accepted: string[] = [];
    for (const [name, bytes] of variants) {
      const before = upstreamRequests();
      const r = await raw(guard.port, bytes);
      const seen = upstreamRequests() - before;
      assert.ok(seen <= 1, `${name}: the upstreams saw ${seen} requests`);
      assert.equal(bobUp.seen.length, 0, `${name}: bob's server saw ${bobUp.seen.map((x) => x.url).join(', ')}`);
      if (r.statuses[0] !== 400 || seen !== 0) accepted.push(`${name} → ${r.statuses.join(',') || 'no answer'} (${seen} upstream)`);
    }
    assert.deepEqual(accepted, [], `not refused with 400: ${accepted.join('; ')}`);
    assert.ok(guard.alive());
  });

  test('pipelined requests on one connection are each decided on their own', async () => {
    const one = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\nCookie: ${alice}\r\n\r\n`;
    const r = await raw(guard.port, `${one('/user/alice/a')}${one('/user/bob/b')}${one('/user/alice/c')}`.replace(/\r\n\r\n$/, '\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(r.statuses, [200, 403, 200], r.text.slice(0, 400));
    assert.equal(bobUp.seen.length, 0);
  });

  test('oversized headers: 431, no upstream sees them', async () => {
    const cases = [
      `GET /user/alice/ HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      `GET /user/alice/ HTTP/1.1\r\nHost: x\r\nCookie: ${Array.from({ length: 800 }, (_, i) => `c${i}=${'v'.repeat(20)}`).join('; ')}\r\n\r\n`,
      `GET /user/alice/ HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(20)}`).join('\r\n')}\r\n\r\n`,
    ];
    for (const bytes of cases) {
      const before = upstreamRequests();
      const r = await raw(guard.port, bytes);
      assert.equal(r.statuses[0], 431, r.text.slice(0, 200));
      assert.equal(upstreamRequests(), before);
    }
    assert.ok(guard.alive());
  });

  /**
   * Writes `start`, then `drip` every 200 ms, until the server closes the connection or `maxDrips` are sent.
   * Returns what the server sent, or undefined if it never closed.
   */
  async function slowClient(start: string, drip: string | undefined, maxDrips: number): Promise<{ text: string; drips: number } | undefined> {
    const s = connect(guard.port, '127.0.0.1');
    let text = '';
    let closed = false;
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('close', () => { closed = true; });
    s.on('error', () => { closed = true; });
    await new Promise((resolve) => s.once('connect', resolve));
    s.write(start);
    let drips = 0;
    for (; drips < maxDrips && !closed; drips++) {
      await sleep(200);
      if (drip && !closed) s.write(drip);
    }
    s.destroy();
    return closed ? { text, drips } : undefined;
  }

  // The client gives up after 50 drips (10 s), ten times the --headers-timeout: a server still listening then does not
  // enforce its header timeout.
  test('slowloris: a client dripping header lines gets 408 and is cut off', async () => {
    const r = await slowClient('GET /user/alice/ HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n', 50);
    assert.ok(r, `the server kept a header-dripping connection open through 50 drips (10 s) with --headers-timeout ${HEADERS_TIMEOUT_MS}`);
    assert.ok(r.text.startsWith('HTTP/1.1 408 '), `expected a 408 before the close, got ${JSON.stringify(r.text.slice(0, 100))}`);
    assert.equal(aliceUp.seen.filter((x) => x.headers['x-slow']).length, 0);
  });

  test('a client that sends half a request line and stops gets 408 and is cut off', async () => {
    const r = await slowClient('GET /user/ali', undefined, 50);
    assert.ok(r, `the server kept a silent half-request open for 10 s with --headers-timeout ${HEADERS_TIMEOUT_MS}`);
    assert.ok(r.text.startsWith('HTTP/1.1 408 '), `expected a 408 before the close, got ${JSON.stringify(r.text.slice(0, 100))}`);
  });

  test('API: a body over the limit gets 413', async () => {
    const auth = { authorization: `token ${guard.token}`, 'content-type': 'application/json' };
    const failed = (e: Error) => ({ status: 0, text: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`, headers: {} });
    const answers: string[] = [];
    const routes = await request(guard.apiPort, 'POST', '/api/routes/user/huge', auth, JSON.stringify({ target: hub.url, pad: 'x'.repeat(2 * 1024 * 1024) })).catch(failed);
    if (routes.status !== 413) answers.push(`POST /api/routes with 2 MB: ${routes.status} ${routes.text.slice(0, 100)}`);
    const op = await request(guard.apiPort, 'PUT', '/api/guard/maintenance', { authorization: `token ${operatorToken}`, 'content-type': 'application/json' },
      JSON.stringify({ reason: 'x'.repeat(200_000) })).catch(failed);
    if (op.status !== 413) answers.push(`PUT /api/guard/maintenance with 200 kB: ${op.status} ${op.text.slice(0, 100)}`);
    assert.deepEqual(answers, []);
    assert.equal((await request(guard.apiPort, 'GET', '/api/routes/user/huge', auth)).status, 404);
    assert.ok(guard.alive());
  });

  test('API: malformed or wrongly shaped JSON gets 400 and changes nothing', async () => {
    const auth = { authorization: `token ${guard.token}`, 'content-type': 'application/json' };
    for (const body of ['{', '{"target": ', 'null x', '[]', '"http://127.0.0.1:1"', '{"target": 5}', '{"target": "file:///etc/passwd"}',
      '{"target": "javascript:alert(1)"}', '{"target": "not a url"}', '{"__proto__": {"target": "http://127.0.0.1:1"}}', '\u0000\u0001', '{"target": "http://127.0.0.1:1"}}']) {
      const r = await request(guard.apiPort, 'POST', '/api/routes/user/mallory', auth, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.text}`);
    }
    assert.equal((await request(guard.apiPort, 'GET', '/api/routes/user/mallory', auth)).status, 404);
    const op = { authorization: `token ${operatorToken}`, 'content-type': 'application/json' };
    for (const body of ['{', '[]', '{"reason": 5}', '{"reason": ""}', 'null']) {
      const r = await request(guard.apiPort, 'PUT', '/api/guard/maintenance', op, body);
      assert.equal(r.status, 400, `operator ${JSON.stringify(body)}: ${r.status} ${r.text}`);
    }
    assert.equal(JSON.parse((await request(guard.apiPort, 'GET', '/api/guard/maintenance', op)).text).on, false);
    assert.ok(guard.alive());
  });

  test('wrong tokens get 403 on both APIs and do not pass maintenance', async () => {
    const t = guard.token;
    const wrong: Array<string | undefined> = [undefined, '', 'token', `token ${t.slice(0, -1)}`, `token ${t}x`, `token ${t.toUpperCase()}`,
      `Bearer ${t}`, `Token ${t}`, `token ${operatorToken}`, `token ${'0'.repeat(1000)}`, `basic ${Buffer.from(`x:${t}`).toString('base64')}`];
    for (const auth of wrong) {
      const r = await request(guard.apiPort, 'GET', '/api/routes', auth === undefined ? {} : { authorization: auth });
      assert.equal(r.status, 403, `/api/routes with ${JSON.stringify(auth)}: ${r.status}`);
      assert.equal(r.text, '');
    }
    assert.equal((await request(guard.apiPort, 'GET', '/api/routes', { authorization: `token ${t}` })).status, 200);
    // the operator API takes the operator token only, once one is set
    for (const auth of [undefined, `token ${t}`, `token ${operatorToken}x`, `Bearer ${operatorToken}`]) {
      const r = await request(guard.apiPort, 'GET', '/api/guard/status', auth === undefined ? {} : { authorization: auth });
      assert.equal(r.status, 403, `/api/guard/status with ${JSON.stringify(auth)}: ${r.status}`);
    }
    const op = { authorization: `token ${operatorToken}`, 'content-type': 'application/json' };
    assert.equal((await request(guard.apiPort, 'PUT', '/api/guard/maintenance', op, JSON.stringify({ reason: 'hardening test' }))).status, 200);
    try {
      for (const given of [undefined, '', t, `${operatorToken}x`, operatorToken.slice(1)]) {
        const r = await get(guard.port, '/hub/home', given === undefined ? {} : { 'x-hub-guard-operator': given });
        assert.equal(r.status, 503, `maintenance bypass with ${JSON.stringify(given)}: ${r.status}`);
        const c = await get(guard.port, '/hub/home', given === undefined ? {} : { cookie: `hub-guard-operator=${given}` });
        assert.equal(c.status, 503, `maintenance bypass cookie with ${JSON.stringify(given)}: ${c.status}`);
      }
      const ok = await get(guard.port, '/hub/home', { 'x-hub-guard-operator': operatorToken });
      assert.equal(ok.status, 200);
      assert.equal(hub.seen.at(-1)!.headers['x-hub-guard-operator'], undefined, 'the operator token was forwarded to the hub');
    } finally {
      await request(guard.apiPort, 'DELETE', '/api/guard/maintenance', op);
    }
  });
});

describe('tokensEqual', () => {
  test('compares equal-length SHA-256 digests with crypto.timingSafeEqual', () => {
    const real = crypto.timingSafeEqual;
    const calls: Array<[number, number]> = [];
    crypto.timingSafeEqual = ((a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      calls.push([a.byteLength, b.byteLength]);
      return real(a, b);
    }) as typeof crypto.timingSafeEqual;
    // the ESM binding auth.ts imported follows the builtin only after this
    syncBuiltinESMExports();
    try {
      const pairs: Array<[string, string, boolean]> = [
        ['secret-token', 'secret-token', true],
        ['secret-token', 'secret-tokeX', false],
        ['short', 'a much longer token than the other', false],
        ['', 'x', false],
        ['ü', 'ü', true],
      ];
      for (const [a, b, expected] of pairs) {
        const before = calls.length;
        assert.equal(tokensEqual(a, b), expected, `${a} vs ${b}`);
        assert.equal(calls.length, before + 1, `${a} vs ${b}: timingSafeEqual not called exactly once`);
        assert.deepEqual(calls.at(-1), [32, 32], `${a} vs ${b}: compared ${calls.at(-1)} bytes`);
      }
    } finally {
      crypto.timingSafeEqual = real;
      syncBuiltinESMExports();
    }
  });
});
