// Secrets never appear in logs or pages: a hub-guard with a known cookie secret, API token, operator token and state
// directory is driven through refusals, maintenance, bad tokens, upstream failures and bad configuration (database
// URLs with passwords), and every line it prints and every answer it gives is searched for those secrets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSignedValue } from '../../src/identity/tornado.js';
import { freePort } from '../helpers/ports.js';
import { eventually } from '../helpers/eventually.js';
import { addRoute, runGuardToExit, startGuard, type Guard } from '../helpers/guard.js';
import { get, request, type Reply } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { raw } from '../helpers/raw.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { HUB_COOKIE, hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Every way a secret could be printed: as given, hex, upper-case hex, base64, base64url. */
function forms(label: string, v: string | Buffer): Array<[string, string]> {
  const buf = typeof v === 'string' ? undefined : v;
  const out = new Set<string>();
  if (typeof v === 'string') out.add(v);
  if (buf) for (const s of [buf.toString('hex'), buf.toString('hex').toUpperCase(), buf.toString('base64'), buf.toString('base64url')]) out.add(s);
  return [...out].filter((s) => s.length >= 8).map((s) => [label, s]);
}

/** The labels of the secrets that occur in `text`. */
function leaks(text: string, secrets: Array<[string, string]>): string[] {
  return [...new Set(secrets.filter(([, s]) => text.includes(s)).map(([label]) => label))];
}

const answerText = (r: Reply) => `${JSON.stringify(r.headers)}\n${r.text}`;

describe('secrets never reach logs or pages', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  let hub: Upstream;
  let aliceUp: Upstream;
  let bobUp: Upstream;
  let guard: Guard;
  const token = randomBytes(24).toString('hex');
  const operatorToken = randomBytes(24).toString('hex');
  const stateDir = () => join(tmp.dir, 'state');
  /** Answers to search; headers included, except the Set-Cookie that hands a browser its own session. */
  const answers: string[] = [];
  const credentials: Array<[string, string]> = [];
  let metricsPort: number;

  before(async () => {
    tmp = scratch();
    db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    secret = writeSecret(tmp.dir);
    [hub, aliceUp, bobUp] = [await startUpstream('hub'), await startUpstream('alice'), await startUpstream('bob')];
    metricsPort = await freePort();
    guard = await startGuard({
      flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--state-dir', stateDir(), '--log-level', 'debug', '--db-check-interval', '0.5',
        '--metrics-ip', '127.0.0.1', '--metrics-port', String(metricsPort)],
      env: { CONFIGPROXY_AUTH_TOKEN: token, HUB_GUARD_OPERATOR_TOKEN: operatorToken },
    });
  });
  after(async () => {
    await guard?.stop();
    for (const u of [hub, aliceUp, bobUp]) await u?.stop();
    tmp?.remove();
  });

  /** A document from the state directory, whether stored bare or wrapped as {at, value}. */
  function stateDoc<T>(key: string): T {
    const doc = JSON.parse(readFileSync(join(stateDir(), `${key}.json`), 'utf8')) as { value?: T } & T;
    return doc.value ?? doc;
  }

  /** The secrets hub-guard holds; the session and signing keys are read from its state directory. */
  function secrets(): Array<[string, string]> {
    const session = stateDoc<{ k: string }>('session-key');
    const signing = stateDoc<{ private: { d: string } }>('assertion-key');
    assert.ok(session.k && signing.private.d, 'no keys in the state directory');
    return [
      ...forms('cookie secret', secret.key),
      ...forms('CONFIGPROXY_AUTH_TOKEN', token),
      ...forms('operator token', operatorToken),
      ...forms('session key', session.k),
      ...forms('session key', Buffer.from(session.k, 'base64url')),
      ...forms('X-Hub-Guard-User signing key', signing.private.d),
      ...forms('X-Hub-Guard-User signing key', Buffer.from(signing.private.d, 'base64url')),
    ];
  }

  async function keep(p: Promise<Reply>): Promise<Reply> {
    const r = await p;
    const headers = { ...r.headers };
    // the Set-Cookie minting a browser's own session is the one place a credential belongs in an answer
    if (headers['set-cookie']) headers['set-cookie'] = headers['set-cookie'].filter((c) => !/^hub-guard-session=[^;]+/.test(c) || c.startsWith('hub-guard-session=;'));
    answers.push(`${JSON.stringify(headers)}\n${r.text}`);
    return r;
  }

  test('driving refusals, maintenance, bad tokens and failures leaks nothing', async () => {
    const auth = { authorization: `token ${token}`, 'content-type': 'application/json' };
    const op = { authorization: `token ${operatorToken}`, 'content-type': 'application/json' };
    await addRoute(guard, '/', { hub: true, target: hub.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', target: aliceUp.url });
    await addRoute(guard, '/user/bob', { user: 'bob', server_name: '', target: bobUp.url });
    await addRoute(guard, '/user/gone', { user: 'gone', server_name: '', target: `http://127.0.0.1:${await freePort()}` });

    const aliceHub = hubCookie(secret.key, db.users.get('alice')!.cookieId);
    const home = await keep(get(guard.port, '/hub/home', { cookie: aliceHub }));
    const session = /hub-guard-session=([^;]+)/.exec((home.headers['set-cookie'] ?? []).join('\n'))?.[1];
    assert.ok(session, 'no session minted');
    const alice = `${aliceHub}; hub-guard-session=${session}`;
    credentials.push(['alice\'s hub cookie', aliceHub.slice(HUB_COOKIE.length + 2, -1)], ['alice\'s session', session],
      ['alice\'s cookie_id', db.users.get('alice')!.cookieId], ['bob\'s cookie_id', db.users.get('bob')!.cookieId]);

    // refusals: another user's server, as a browser and as an API client, and over a websocket
    for (const accept of ['text/html', 'application/json']) {
      assert.equal((await keep(get(guard.port, '/user/bob/tree', { cookie: alice, accept }))).status, 403);
    }
    const ws = await raw(guard.port, `GET /user/bob/api/kernels/k/channels HTTP/1.1\r\nHost: x\r\nCookie: ${alice}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n\r\n`);
    assert.equal(ws.statuses[0], 403);
    answers.push(ws.text);
    // bad paths, no route, dead upstream
    assert.equal((await keep(get(guard.port, '/user/alice%2F..%2Fbob/', { cookie: alice }))).status, 400);
    assert.equal((await keep(get(guard.port, '/user/gone/tree'))).status, 503);
    // a hub cookie signed by someone else, and tampered sessions: nobody, never an error page with details
    const forged = createSignedValue(randomBytes(32), HUB_COOKIE, db.users.get('bob')!.cookieId, Date.now() / 1000);
    assert.equal((await keep(get(guard.port, '/user/bob/tree', { cookie: `${HUB_COOKIE}="${forged}"; hub-guard-session=${session}x` }))).status, 200);
    // the API with bad tokens and bad bodies
    for (const a of [undefined, `token ${token}x`, `token ${operatorToken}`, `Bearer ${token}`]) {
      assert.equal((await keep(request(guard.apiPort, 'GET', '/api/routes', a ? { authorization: a } : {}))).status, 403);
    }
    for (const a of [undefined, `token ${operatorToken}x`, `token ${token}`, `Bearer ${operatorToken}`]) {
      assert.equal((await keep(request(guard.apiPort, 'GET', '/api/guard/status', a ? { authorization: a } : {}))).status, 403);
    }
    assert.equal((await keep(request(guard.apiPort, 'POST', '/api/routes/user/x', auth, '{"target": '))).status, 400);
    assert.equal((await keep(request(guard.apiPort, 'POST', '/api/routes/user/x', auth, '{"target": "gopher://x"}'))).status, 400);
    assert.equal((await keep(request(guard.apiPort, 'PUT', '/api/guard/maintenance', op, '{'))).status, 400);
    // everything an operator or a probe can read
    for (const path of ['/api/routes', '/api/guard/status', '/api/guard/maintenance']) {
      assert.equal((await keep(request(guard.apiPort, 'GET', path, path.startsWith('/api/guard') ? op : auth))).status, 200, path);
    }
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json']) assert.equal((await keep(get(guard.apiPort, path))).status, 200, path);
    assert.equal((await keep(get(metricsPort, '/metrics'))).status, 200);

    // maintenance by hand: pages for browsers and API clients, the operator's bypass
    assert.equal((await keep(request(guard.apiPort, 'PUT', '/api/guard/maintenance', op, JSON.stringify({ reason: 'restoring the database' })))).status, 200);
    for (const accept of ['text/html', 'application/json']) {
      assert.equal((await keep(get(guard.port, '/hub/home', { cookie: alice, accept }))).status, 503);
      assert.equal((await keep(get(guard.port, '/user/alice/tree', { cookie: alice, accept }))).status, 503);
    }
    assert.equal((await keep(get(guard.port, '/hub/home', { 'x-hub-guard-operator': `${operatorToken}0` }))).status, 503);
    assert.equal((await keep(get(guard.port, '/hub/home', { 'x-hub-guard-operator': operatorToken }))).status, 200);
    assert.equal((await keep(request(guard.apiPort, 'GET', '/api/guard/status', op))).status, 200);
    assert.equal((await keep(request(guard.apiPort, 'DELETE', '/api/guard/maintenance', op))).status, 200);

    // identity problems: a cookie_id that is empty or not the hub's form
    for (const cid of ['not-a-hub-cookie-id', '']) {
      const r = await keep(get(guard.port, '/hub/home', { cookie: `${HUB_COOKIE}="${createSignedValue(secret.key, HUB_COOKIE, cid, Date.now() / 1000)}"` }));
      assert.equal(r.status, 409);
    }
    // a users table gone wrong (a cookie_id emptied by hand) latches automatic maintenance, with findings to show
    db.exec("UPDATE users SET cookie_id = '' WHERE name = 'bob'");
    await eventually('automatic maintenance', async () => ((await keep(get(guard.port, '/hub/home', { cookie: alice }))).status === 503 ? true : undefined));
    assert.equal((await keep(request(guard.apiPort, 'GET', '/api/guard/status', op))).status, 200);

    // what user servers and the hub were sent: no operator token, no hub secret material, no other users' cookies
    const upstreamText = [hub, aliceUp, bobUp].flatMap((u) => u.seen.map((s) => JSON.stringify(s.headers))).join('\n');
    assert.deepEqual(leaks(upstreamText, secrets()), [], 'secrets forwarded upstream');
    assert.deepEqual(leaks([aliceUp, bobUp].flatMap((u) => u.seen.map((s) => JSON.stringify(s.headers))).join('\n'), credentials.filter(([l]) => !l.includes('cookie_id'))), [],
      'login credentials forwarded to a user server');

    await guard.stop();
    assert.deepEqual(await guard.exited, { code: 0, signal: null });
    // the keys on disk are the owner's alone
    assert.equal(statSync(stateDir()).mode & 0o777, 0o700, 'state directory mode');
    for (const f of readdirSync(stateDir())) assert.equal(statSync(join(stateDir(), f)).mode & 0o077, 0, `${f} is readable by others`);
    const all = secrets();
    assert.deepEqual(leaks(guard.stderr() + guard.stdout(), [...all, ...credentials]), [], `leaked into the log:\n${guard.stderr().slice(-3000)}`);
    assert.deepEqual(leaks(answers.join('\n'), [...all, ...credentials]), [], 'leaked into an answer');
    // the run did produce the log lines this test means to search
    const msgs = new Set(guard.logs().map((l) => l.msg));
    for (const m of ['refused', 'upstream error']) assert.ok(msgs.has(m), `no "${m}" line in the log`);
  });

  test('bad configuration: database passwords and secrets stay out of start-up errors', async () => {
    const pw = `Pw${randomBytes(12).toString('hex')}`;
    const badHex = `${secret.hex}zz`;
    const urls = [
      `postgresql://hub:${pw}@127.0.0.1:99999/jupyterhub`,
      `postgresql://hub:${pw}@127.0.0.1/jupyterhub?password=${pw}`,
      `postgresql://hub:${pw}@127.0.0.1/jupyterhub?sslmode=sometimes`,
      `mysql+pymysql://hub:${pw}@127.0.0.1/jupyterhub?bogus=1`,
      `mysql://hub:p@${pw}@127.0.0.1:3306/`,
      `oracle://hub:${pw}@127.0.0.1/jupyterhub`,
      `hub:${pw}@127.0.0.1/jupyterhub`,
      `postgresql://hub:${pw}%ZZ@127.0.0.1/jupyterhub`,
    ];
    const redisUrls = [`redis://hg:${pw}@127.0.0.1:99999/0`, `http://hg:${pw}@127.0.0.1:6379/0`, `redis://hg:${pw}@127.0.0.1:6379/notadb`];
    const outputs: string[] = [];
    for (const url of urls) {
      const r = await runGuardToExit(['--port', String(await freePort()), '--api-port', String(await freePort()), '--ip', '127.0.0.1', '--api-ip', '127.0.0.1',
        '--hub-db', url, '--cookie-secret-file', secret.file], { CONFIGPROXY_AUTH_TOKEN: token });
      assert.equal(r.code, 2, `${url}: exit ${r.code}\n${r.stderr}`);
      assert.ok(r.stderr.includes('--hub-db'), `${url}: the error does not name the flag: ${r.stderr}`);
      outputs.push(r.stdout + r.stderr);
    }
    for (const url of redisUrls) {
      const r = await runGuardToExit(['--port', String(await freePort()), '--api-port', String(await freePort()), '--ip', '127.0.0.1', '--api-ip', '127.0.0.1',
        '--redis-url', url], { CONFIGPROXY_AUTH_TOKEN: token });
      assert.equal(r.code, 2, `${url}: exit ${r.code}\n${r.stderr}`);
      assert.ok(r.stderr.includes('--redis-url'), `${url}: the error does not name the flag: ${r.stderr}`);
      outputs.push(r.stdout + r.stderr);
    }
    // a cookie secret the hub would refuse: in the environment, and in a file others may read
    const env = await runGuardToExit(['--port', String(await freePort()), '--ip', '127.0.0.1', '--hub-db', db.url], { JPY_COOKIE_SECRET: badHex, CONFIGPROXY_AUTH_TOKEN: token });
    assert.equal(env.code, 2, env.stderr);
    outputs.push(env.stdout + env.stderr);
    const open = join(tmp.dir, 'open_secret');
    writeFileSync(open, `${secret.hex}\n`);
    chmodSync(open, 0o644);
    const perm = await runGuardToExit(['--port', String(await freePort()), '--ip', '127.0.0.1', '--hub-db', db.url, '--cookie-secret-file', open], { CONFIGPROXY_AUTH_TOKEN: token });
    assert.equal(perm.code, 2, perm.stderr);
    outputs.push(perm.stdout + perm.stderr);
    assert.deepEqual(leaks(outputs.join('\n'), [['database password', pw], ['cookie secret', secret.hex], ['cookie secret', badHex], ['CONFIGPROXY_AUTH_TOKEN', token]]), [],
      outputs.join('\n'));
  });

  test('unreachable databases: the password stays out of logs, findings, status and pages', async () => {
    const pw = `Pw${randomBytes(12).toString('hex')}`;
    for (const url of [`postgresql://hg_nobody:${pw}@127.0.0.1:5432/hg_missing_db`, `mysql://hg_nobody:${pw}@127.0.0.1:3306/hg_missing_db`,
      `postgresql://hub:${pw}@127.0.0.1:${await freePort()}/jupyterhub`]) {
      const g = await startGuard({
        flags: ['--hub-db', url, '--cookie-secret-file', secret.file, '--db-check-interval', '0.2', '--db-unreachable-checks', '1', '--log-level', 'debug'],
        env: { CONFIGPROXY_AUTH_TOKEN: token },
        waitReady: false,
      });
      try {
        const op = { authorization: `token ${token}` };
        await eventually(`${url}: automatic maintenance`, async () => ((await get(g.port, '/hub/home')).status === 503 ? true : undefined));
        await sleep(500);
        const texts = [
          answerText(await get(g.port, '/hub/home', { accept: 'text/html' })),
          answerText(await get(g.port, '/hub/home', { accept: 'application/json' })),
          answerText(await request(g.apiPort, 'GET', '/api/guard/status', op)),
          answerText(await get(g.apiPort, '/readyz')),
        ];
        await g.stop();
        const logged = g.stderr() + g.stdout();
        assert.ok(logged.includes('finding'), `${url}: no finding logged:\n${logged.slice(0, 2000)}`);
        assert.deepEqual(leaks(logged + texts.join('\n'), [['database password', pw], ['CONFIGPROXY_AUTH_TOKEN', token], ...forms('cookie secret', secret.key)]), [],
          `${url}:\n${logged.slice(0, 3000)}\n${texts.join('\n').slice(0, 3000)}`);
      } finally {
        await g.stop();
      }
    }
  });

  test('Redis credentials stay out of logs and status when Redis refuses them or cannot be reached', async () => {
    const pw = `Pw${randomBytes(12).toString('hex')}`;
    for (const url of [`redis://hg_nobody:${pw}@127.0.0.1:6379/0`, `redis://hg_nobody:${pw}@127.0.0.1:${await freePort()}/0`]) {
      const g = await startGuard({ flags: ['--redis-url', url, '--log-level', 'debug'], env: { CONFIGPROXY_AUTH_TOKEN: token }, waitReady: false });
      try {
        await sleep(1500);
        const texts = [
          answerText(await request(g.apiPort, 'GET', '/api/guard/status', { authorization: `token ${token}` })),
          answerText(await get(g.apiPort, '/readyz')),
          answerText(await get(g.port, '/hub/home')),
        ];
        await g.stop();
        const logged = g.stderr() + g.stdout();
        assert.deepEqual(leaks(logged + texts.join('\n'), [['Redis password', pw], ['CONFIGPROXY_AUTH_TOKEN', token]]), [], `${url}:\n${logged.slice(0, 3000)}`);
      } finally {
        await g.stop();
      }
    }
  });
});
