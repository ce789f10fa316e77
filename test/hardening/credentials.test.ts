// No credential travels past hub-guard to code that is not the hub, and nothing but the hub plants one in a browser.
// One hub-guard with a hub DB and an identity provider, and every kind of upstream behind it (the hub, user servers,
// a service, a default target that is not the hub), is sent every credential in every spelling; what each upstream
// receives, and which Set-Cookie lines reach the browser over HTTP and over a websocket answer, is compared with the
// table in docs/security.md.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { addRoute, login, startGuard, type Guard } from '../helpers/guard.js';
import { get } from '../helpers/http.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { raw } from '../helpers/raw.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { HUB_COOKIE, hubCookie, SESSION_COOKIE, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const OPERATOR_TOKEN = randomBytes(16).toString('hex');
const IDP_HEADER = 'x-idp-jwt';

/** Names a browser or a lenient server could read as the hub's login cookie. */
const LOGIN_SPELLINGS = [HUB_COOKIE, 'jupyterhub-services', `__Host-${HUB_COOKIE}`, `__Secure-${HUB_COOKIE}`, 'JupyterHub-Hub-Login', `"${HUB_COOKIE}"`];

/** Set-Cookie lines no upstream but the hub may send to a browser. */
const PLANTED = [
  `${HUB_COOKIE}="2|1:0|10:1|20:${HUB_COOKIE}|0:|x"; Path=/hub/`,
  `__Host-${HUB_COOKIE}=x; Path=/; Secure`,
  `JUPYTERHUB-HUB-LOGIN=x; Path=/hub/`,
  ` ${HUB_COOKIE} =x; Path=/hub/`,
  `"${HUB_COOKIE}"=x; Path=/hub/`,
  `${HUB_COOKIE}=x; Domain=127.0.0.1; Path=/hub/`,
  `=${HUB_COOKIE}=x; Path=/hub/`,
  `${HUB_COOKIE}; Path=/hub/`,
  `${SESSION_COOKIE}=x; Path=/`,
  `__Secure-${SESSION_COOKIE}=x; Path=/; Secure`,
  'hub-guard-operator=x; Path=/',
];
/** Set-Cookie lines any upstream may send. */
const HARMLESS = ['_xsrf=2|abc; Path=/user/alice/', 'jupyterhub-user-alice=token; Path=/user/alice/'];

/** A websocket upstream that answers every upgrade with a 101 carrying these Set-Cookie lines. */
async function startWsPlanter(lines: string[]): Promise<{ url: string; stop(): Promise<void> }> {
  const server: Server = createServer((_req, res) => {
    for (const l of lines) res.appendHeader('set-cookie', l);
    res.end('plain answer');
  });
  const upgraded = new Set<import('node:stream').Duplex>();
  server.on('upgrade', (req, socket) => {
    upgraded.add(socket);
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.on('error', () => undefined);
    socket.write(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`,
      ...lines.map((l) => `Set-Cookie: ${l}`), '', ''].join('\r\n'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () => new Promise<void>((resolve) => {
      for (const s of upgraded) s.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const setCookiesIn = (head: string): string[] => [...head.matchAll(/\r\nSet-Cookie: ([^\r]*)/gi)].map((m) => m[1]!);

describe('credentials reach the hub and nothing else', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  const ups: Record<string, Upstream> = {};
  let planter: Awaited<ReturnType<typeof startWsPlanter>>;
  let guard: Guard;
  let idpToken: string;
  let session: string;

  before(async () => {
    tmp = scratch();
    db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    secret = writeSecret(tmp.dir);
    for (const name of ['hub', 'alice', 'bob', 'svc']) ups[name] = await startUpstream(name);
    // every upstream answers /plant with the planted cookies and the harmless ones
    for (const u of Object.values(ups)) {
      for (const path of ['/plant', '/user/alice/plant', '/services/svc/plant']) {
        u.handle(path, (_req, res) => {
          for (const l of [...PLANTED, ...HARMLESS]) res.appendHeader('set-cookie', l);
          res.end('planted');
        });
      }
    }
    planter = await startWsPlanter([...PLANTED, ...HARMLESS]);

    const { publicKey, privateKey } = await generateKeyPair('ES256');
    mkdirSync(join(tmp.dir, 'idp'));
    const jwks = join(tmp.dir, 'idp', 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] }));
    idpToken = await new SignJWT({ email: 'alice@example.org' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuedAt().setExpirationTime('10m').sign(privateKey);

    guard = await startGuard({
      flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--identity-header', 'X-Idp-Jwt', '--jwks-file', jwks],
      env: { HUB_GUARD_OPERATOR_TOKEN: OPERATOR_TOKEN },
    });
    await addRoute(guard, '/', { hub: true, target: ups.hub!.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', target: ups.alice!.url });
    await addRoute(guard, '/user/bob', { user: 'bob', server_name: '', target: ups.bob!.url });
    await addRoute(guard, '/services/svc', { service: 'svc', target: ups.svc!.url });
    await addRoute(guard, '/user/alice/ws', { user: 'alice', server_name: 'ws', target: planter.url });
    await addRoute(guard, '/services/wsvc', { service: 'wsvc', target: planter.url });
    await addRoute(guard, '/hub/ws', { hub: true, target: planter.url });
    session = await login(guard, secret.key, db.users.get('alice')!.cookieId);
  });
  after(async () => {
    await guard?.stop();
    for (const u of Object.values(ups)) await u.stop();
    await planter?.stop();
    tmp?.remove();
  });

  /** Every credential alice's browser (or a script replaying one) could send, in every spelling. */
  function everything(): Record<string, string> {
    const cookieId = db.users.get('alice')!.cookieId;
    const logins = LOGIN_SPELLINGS.map((n) => hubCookie(secret.key, cookieId, { name: n.replace(/"/g, '') }).replace(/^[^=]+/, n));
    return {
      cookie: [...logins, session, `__Host-${session}`, `hub-guard-operator=${OPERATOR_TOKEN}`, 'jupyterhub-user-bob=bobs-token', '_xsrf=1'].join('; '),
      [IDP_HEADER]: idpToken,
      'x-hub-guard-operator': OPERATOR_TOKEN,
      'x-hub-guard-user': 'forged',
    };
  }

  const received = (u: Upstream) => u.seen[u.seen.length - 1]!.headers;

  function credentialsIn(headers: Record<string, unknown>): string[] {
    const cookie = String(headers.cookie ?? '');
    const found: string[] = [];
    for (const n of LOGIN_SPELLINGS) if (cookie.split(';').some((c) => c.trim().startsWith(`${n}=`))) found.push(n);
    if (cookie.includes(`${SESSION_COOKIE}=`)) found.push(SESSION_COOKIE);
    if (cookie.includes(OPERATOR_TOKEN) || String(headers['x-hub-guard-operator'] ?? '').includes(OPERATOR_TOKEN)) found.push('operator token');
    if (headers[IDP_HEADER] !== undefined) found.push('IdP token');
    if (cookie.includes('jupyterhub-user-bob=')) found.push("bob's server cookie");
    return found;
  }

  test('what each kind of upstream receives', async () => {
    const cases: Array<[string, string, Upstream, string[]]> = [
      // the hub gets its own cookies, hub-guard's session and the IdP token; never the operator's token
      ['hub', '/hub/home', ups.hub!, [...LOGIN_SPELLINGS, SESSION_COOKIE, 'IdP token', "bob's server cookie"]],
      ['user server', '/user/alice/tree', ups.alice!, []],
      ['service', '/services/svc/', ups.svc!, []],
    ];
    const table: string[] = [];
    for (const [kind, path, up, expected] of cases) {
      const r = await get(guard.port, path, everything());
      assert.equal(r.status, 200, `${kind}: ${r.status} ${r.text.slice(0, 200)}`);
      const got = credentialsIn(received(up));
      table.push(`${kind}: ${got.join(', ') || 'none'}`);
      assert.deepEqual(got.sort(), [...expected].sort(), `${kind} received ${got.join(', ')}`);
      assert.notEqual(received(up)['x-hub-guard-user'], 'forged');
      // what the upstream itself needs still arrives
      assert.ok(String(received(up).cookie ?? '').includes('_xsrf=1'), `${kind}: _xsrf was dropped`);
    }
    assert.ok(guard.alive());
  });

  test('an IdP token forwarded to a user server could not be replayed: the server never sees it', async () => {
    // the finding: bob's code read an admin's token from its request and sent it back to open alice's server
    const r = await get(guard.port, '/user/bob/api/status', { [IDP_HEADER]: idpToken, accept: 'application/json' });
    assert.equal(r.status, 403, 'alice, by her IdP token, is refused on bob\'s server');
    const before = ups.alice!.seen.length;
    await get(guard.port, '/user/alice/api/status', { [IDP_HEADER]: idpToken });
    assert.equal(ups.alice!.seen.length, before + 1);
    assert.equal(received(ups.alice!)[IDP_HEADER], undefined);
  });

  test('Set-Cookie from anything but the hub never plants a credential, whatever the spelling', async () => {
    for (const [kind, path] of [['user server', '/user/alice/plant'], ['service', '/services/svc/plant']] as const) {
      const r = await get(guard.port, path, { cookie: session });
      assert.equal(r.status, 200, kind);
      const lines = r.headers['set-cookie'] ?? [];
      assert.deepEqual(lines.filter((l) => PLANTED.includes(l)), [], `${kind} planted ${lines.join(' | ')}`);
      for (const ok of HARMLESS) assert.ok(lines.includes(ok), `${kind}: ${ok} was dropped`);
    }
    // the hub may set its own login cookie (it is checked for a bad cookie_id instead)
    const hub = await get(guard.port, '/plant', { cookie: session });
    assert.ok((hub.headers['set-cookie'] ?? []).includes(PLANTED[1]!), 'the hub\'s own Set-Cookie was dropped');
  });

  test('the same over a websocket answer, 101 or not', async () => {
    const key = randomBytes(16).toString('base64');
    for (const [kind, path] of [['user server', '/user/alice/ws/api/kernels/k/channels'], ['service', '/services/wsvc/ws']] as const) {
      const r = await raw(guard.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${session}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`, 10_000, true);
      assert.equal(r.statuses[0], 101, `${kind}: ${r.text.slice(0, 300)}`);
      const lines = setCookiesIn(r.text);
      assert.deepEqual(lines.filter((l) => PLANTED.includes(l)), [], `${kind} planted over a websocket: ${lines.join(' | ')}`);
      for (const ok of HARMLESS) assert.ok(lines.includes(ok), `${kind}: ${ok} was dropped`);
    }
    const hub = await raw(guard.port, `GET /hub/ws/x HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`, 10_000, true);
    assert.ok(setCookiesIn(hub.text).includes(PLANTED[1]!), 'the hub\'s own websocket answer lost its Set-Cookie');
  });
});

describe('a --default-target is trusted with credentials only when it is the hub', () => {
  let tmp: Scratch;
  let secret: Secret;
  let db: HubDbFixture;
  let target: Upstream;

  before(async () => {
    tmp = scratch();
    db = await makeHubDb({ dir: tmp.dir, users: ['alice'] });
    secret = writeSecret(tmp.dir);
    target = await startUpstream('default');
  });
  after(async () => {
    await target?.stop();
    tmp?.remove();
  });

  for (const [what, errorTarget, trusted] of [
    ['with --error-target on the same origin (as JupyterHub and zero-to-jupyterhub start it)', true, true],
    ['with no --error-target pointing at it', false, false],
  ] as const) {
    test(what, async () => {
      const g = await startGuard({
        flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--default-target', target.url,
          ...(errorTarget ? ['--error-target', `${target.url}/hub/error`] : [])],
      });
      try {
        const cookie = `${hubCookie(secret.key, db.users.get('alice')!.cookieId)}; ${await login(g, secret.key, db.users.get('alice')!.cookieId)}`;
        assert.equal((await get(g.port, '/hub/home', { cookie })).status, 200);
        const sent = String(target.seen[target.seen.length - 1]!.headers.cookie ?? '');
        assert.equal(sent.includes(`${HUB_COOKIE}=`), trusted, `hub cookie forwarded: ${sent}`);
        assert.equal(sent.includes(`${SESSION_COOKIE}=`), trusted, `session forwarded: ${sent}`);
      } finally {
        await g.stop();
      }
    });
  }
});
