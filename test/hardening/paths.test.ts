// Path and Host tricks against a real hub-guard with the guard on (hub DB, cookie secret, alice's session): every
// request is either refused before any upstream sees it, or reaches exactly the server whose route its received
// path names (checked by an independent resolver below), and alice never reaches a server of bob's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  addRoute, hubCookie, login, makeHubDb, raw, scratch, startGuard, startUpstream, writeSecret,
  type GuardProc, type HubDb, type Scratch, type Secret, type Upstream,
} from './harness.js';

// ---------------------------------------------------------------- an independent view of where a path belongs

/** RFC 3986 remove_dot_segments, with `%2e` counted as a dot the way WHATWG URL parsing does. */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segs = path.split('/').slice(1);
  segs.forEach((seg, i) => {
    const s = seg.replace(/%2e/gi, '.');
    const last = i === segs.length - 1;
    if (s === '.') {
      if (last) out.push('');
    } else if (s === '..') {
      if (out.length) out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  });
  return `/${out.join('/')}`;
}

/** Longest whole-segment prefix in `table` (keys without trailing slash); empty segments match nothing. */
function longestPrefix(table: Map<string, string>, path: string): string {
  const segs = path.split('/').slice(1);
  let best = table.get('/')!;
  let key = '';
  for (const seg of segs) {
    if (seg === '') break;
    key += `/${seg}`;
    const hit = table.get(key);
    if (hit) best = hit;
  }
  return best;
}

/**
 * The upstream a received request belongs to, read the way a server behind the proxy would (backslashes as
 * slashes, dot segments, one decoding), or 'ambiguous' when that reading could name another server.
 */
function ownerOf(table: Map<string, string>, url: string, host: string | undefined, hostRouting: boolean): string {
  if (!url.startsWith('/')) return 'ambiguous';
  let path = url.split(/[?#]/)[0]!.replace(/\\/g, '/');
  path = removeDotSegments(path);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return 'ambiguous';
  }
  if (decoded.includes('\0') || decoded.split('/').some((s) => s === '.' || s === '..')) return 'ambiguous';
  // the authority's host is everything before the port's colon (a Host header has no user info)
  const rawHost = host ?? '';
  const end = rawHost.startsWith('[') ? rawHost.indexOf(']') + 1 : rawHost.indexOf(':');
  const h = (end > 0 ? rawHost.slice(0, end) : rawHost).toLowerCase();
  return longestPrefix(table, hostRouting ? `/${h}${decoded}` : decoded);
}

// ---------------------------------------------------------------- the setup

interface Setup {
  guard: GuardProc;
  ups: Record<string, Upstream>;
  /** route prefix → upstream name, for ownerOf */
  table: Map<string, string>;
  /** Upstreams that are hubs: the only ones that may receive a path whose owner is ambiguous. */
  hubs: Set<string>;
  hostRouting: boolean;
}

interface Case {
  /** The request target, byte for byte. */
  target: string;
  host?: string;
  /** Extra header lines. */
  extra?: string[];
  /** 'refused' (a 4xx before any upstream) or the upstream that must answer. */
  expect?: string;
  /** HTTP version of the request line (default 1.1). */
  version?: string;
  upgrade?: boolean;
}

const WS_HEADERS = ['Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`];

/**
 * Sends one case with `cookie` and checks the invariant: at most one upstream saw it; a 4xx means none did;
 * otherwise the one that did is the one its received path belongs to, and it is never in `forbidden`.
 */
async function check(s: Setup, c: Case, cookie: string | undefined, forbidden: string[]): Promise<void> {
  const lines = [`GET ${c.target} HTTP/${c.version ?? '1.1'}`];
  if (c.host !== undefined) lines.push(`Host: ${c.host}`);
  if (cookie) lines.push(`Cookie: ${cookie}`);
  lines.push(...(c.extra ?? []));
  lines.push(...(c.upgrade ? WS_HEADERS : ['Connection: close']));
  const before = new Map(Object.values(s.ups).map((u) => [u.name, u.seen.length]));
  const r = await raw(s.guard.port, `${lines.join('\r\n')}\r\n\r\n`, 10_000, c.upgrade);
  const label = `${c.target.slice(0, 120)}${c.host !== undefined ? ` (Host: ${c.host})` : ''}${cookie ? ' as alice' : ' anonymous'}`;
  const status = r.statuses[0];
  assert.ok(status !== undefined, `${label}: no HTTP answer: ${JSON.stringify(r.text.slice(0, 200))}`);
  const reached = Object.values(s.ups).flatMap((u) => u.seen.slice(before.get(u.name)!).map((seen) => ({ up: u.name, seen })));
  assert.ok(reached.length <= 1, `${label}: ${reached.length} upstream requests: ${reached.map((x) => `${x.up} ${x.seen.url}`).join(', ')}`);
  for (const x of reached) assert.ok(!forbidden.includes(x.up), `${label}: reached ${x.up} (${x.seen.url})`);
  if (status >= 400 && status < 500) {
    assert.equal(reached.length, 0, `${label}: refused with ${status} but ${reached[0]?.up} saw it`);
  } else {
    assert.equal(reached.length, 1, `${label}: answered ${status} without any upstream: ${r.text.slice(0, 300)}`);
    const { up, seen } = reached[0]!;
    assert.equal(status, c.upgrade ? 101 : 200, `${label}: ${up} saw it but the client got ${status}`);
    const owner = ownerOf(s.table, seen.url, seen.headers.host, s.hostRouting);
    if (!(owner === 'ambiguous' && s.hubs.has(up))) assert.equal(owner, up, `${label}: ${up} received ${JSON.stringify(seen.url.slice(0, 120))} (Host ${seen.headers.host}), which belongs to ${owner}`);
  }
  if (c.expect !== undefined) {
    if (c.expect === 'refused') assert.ok(status >= 400 && status < 500, `${label}: expected a refusal, got ${status}`);
    else assert.equal(reached[0]?.up, c.expect, `${label}: expected ${c.expect} to answer, got ${status} from ${reached[0]?.up ?? 'hub-guard'}`);
  }
}

async function setup(dir: string, db: HubDb, secret: Secret, routes: Array<[string, string, Record<string, unknown>]>, flags: string[] = []): Promise<Setup> {
  const ups: Record<string, Upstream> = {};
  for (const [, name] of routes) ups[name] ??= await startUpstream(name);
  const guard = await startGuard({ flags: ['--hub-db', db.url, '--cookie-secret-file', secret.file, '--state-dir', `${dir}/state-${randomBytes(4).toString('hex')}`, ...flags] });
  const table = new Map<string, string>();
  const hubs = new Set<string>();
  for (const [prefix, name, data] of routes) {
    await addRoute(guard, prefix, { ...data, target: ups[name]!.url });
    table.set(prefix, name);
    if (data.hub === true) hubs.add(name);
  }
  return { guard, ups, table, hubs, hostRouting: flags.includes('--host-routing') };
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.guard.stop();
  for (const u of Object.values(s.ups)) await u.stop();
}

const BOBS = ['bob', 'bob-gpu', 'jhub-bob'];

describe('path tricks with a hub at / and at /jhub, users alice and bob, named servers', () => {
  let tmp: Scratch;
  let db: HubDb;
  let secret: Secret;
  let s: Setup;
  let alice: string;

  before(async () => {
    tmp = scratch();
    db = await makeHubDb(tmp.dir, ['alice', 'bob']);
    secret = writeSecret(tmp.dir);
    s = await setup(tmp.dir, db, secret, [
      ['/', 'hub', { hub: true }],
      ['/user/alice', 'alice', { user: 'alice', server_name: '' }],
      ['/user/alice/gpu', 'alice-gpu', { user: 'alice', server_name: 'gpu' }],
      ['/user/bob', 'bob', { user: 'bob', server_name: '' }],
      ['/user/bob/gpu', 'bob-gpu', { user: 'bob', server_name: 'gpu' }],
      ['/jhub', 'jhub-hub', { hub: true }],
      ['/jhub/user/alice', 'jhub-alice', { user: 'alice', server_name: '' }],
      ['/jhub/user/bob', 'jhub-bob', { user: 'bob', server_name: '' }],
    ]);
    // a browser sends the hub cookie only under /hub/; an attacker sends everything everywhere
    alice = `${hubCookie(secret.key, db.users.alice!.cookieId)}; ${await login(s.guard, secret.key, db.users.alice!.cookieId)}`;
  });
  after(async () => {
    await teardown(s);
    tmp?.remove();
  });

  const H = '127.0.0.1';
  const cases: Case[] = [
    // sanity: the plain routes
    { target: '/user/alice/tree', expect: 'alice' },
    { target: '/user/bob/tree', expect: 'refused' },
    { target: '/user/bob', expect: 'refused' },
    { target: '/hub/home', expect: 'hub' },
    // dot segments, literal and encoded, in any letter case
    { target: '/user/alice/../bob/', expect: 'refused' },
    { target: '/user/alice/../bob/api/contents', expect: 'refused' },
    { target: '/user/alice/%2e%2e/bob/', expect: 'refused' },
    { target: '/user/alice/%2E%2E/bob/', expect: 'refused' },
    { target: '/user/alice/.%2E/bob/', expect: 'refused' },
    { target: '/user/alice/%2e./bob/', expect: 'refused' },
    { target: '/user/alice/./../bob/', expect: 'refused' },
    { target: '/user/alice/../../user/bob/', expect: 'refused' },
    { target: '/user/alice/../../../../../user/bob/', expect: 'refused' },
    { target: '/./user/bob/', expect: 'refused' },
    { target: '/user/./bob/', expect: 'refused' },
    { target: '/user/bob/../alice/', expect: 'alice' },
    { target: '/user/bob/gpu/../../alice/x', expect: 'alice' },
    // encoded slashes: never a dot segment hiding behind them
    { target: '/user/alice%2F..%2Fbob/', expect: 'refused' },
    { target: '/user/alice%2f..%2fbob/', expect: 'refused' },
    { target: '/user/alice/..%2Fbob/', expect: 'refused' },
    { target: '/user/alice/%2e%2e%2fbob/', expect: 'refused' },
    { target: '/user%2Fbob/', expect: 'refused' },
    { target: '/user%2Fbob%2Ftree', expect: 'refused' },
    { target: '/user/bob%2Fgpu/', expect: 'refused' },
    { target: '/user%2Falice%2Ftree' },
    // backslashes are slashes to browsers and to WHATWG URL parsing
    { target: '/user/alice\\..\\bob/', expect: 'refused' },
    { target: '/user/bob\\..\\alice/', expect: 'alice' },
    { target: '/user/alice/..%5Cbob/' },
    // doubled slashes and case: CHP-compatible matching sends these to the hub, never to bob
    { target: '//user/bob/', expect: 'hub' },
    { target: '///user/bob/', expect: 'hub' },
    { target: '/user//bob/', expect: 'hub' },
    { target: '/USER/BOB/', expect: 'hub' },
    { target: '/user/Bob/', expect: 'hub' },
    { target: '/user/BOB/tree', expect: 'hub' },
    { target: `/user/alice${'/'.repeat(2000)}../bob/` },
    // percent-encoded names, double encoding, overlong UTF-8, look-alikes
    { target: '/user/%62ob/', expect: 'refused' },
    { target: '/user/%61lice/', expect: 'alice' },
    { target: '/user/%2562ob/', expect: 'hub' },
    { target: '/user/%c0%ae%c0%ae/bob/', expect: 'refused' },
    { target: '/user/bob%E2%80%8B/', expect: 'hub' },
    { target: '/user/%EF%BD%82%EF%BD%8F%EF%BD%82/', expect: 'hub' },
    { target: '/user/bob;x=1/', expect: 'hub' },
    { target: '/user/alice/..;/bob/' },
    { target: '/user/alice%ZZ/', expect: 'refused' },
    // NUL and control characters
    { target: '/user/bob%00/', expect: 'refused' },
    { target: '/user/alice%00/../bob/', expect: 'refused' },
    { target: '/user/alice/%00/../../bob/', expect: 'refused' },
    { target: '/user/alice/%0d%0aHost:%20bob/' },
    // queries and fragments do not route
    { target: '/user/alice/?next=/user/bob/', expect: 'alice' },
    { target: '/user/alice?/../bob/', expect: 'alice' },
    { target: '/user/alice/?x=%2F..%2F..%2Fuser%2Fbob', expect: 'alice' },
    { target: '/user/alice/x#/../../bob/' },
    // absolute-form request lines
    { target: 'http://127.0.0.1/user/bob/', expect: 'refused' },
    { target: 'http://127.0.0.1/user/alice/../bob/', expect: 'refused' },
    { target: 'http://evil.example/user/alice/', expect: 'alice' },
    { target: 'ftp://127.0.0.1/user/alice/', expect: 'refused' },
    { target: '*', expect: 'refused' },
    // overlong paths: refused outright, or normalised like any other
    { target: `/user/alice/${'a'.repeat(64 * 1024)}`, expect: 'refused' },
    { target: `/user/bob/${'a'.repeat(64 * 1024)}`, expect: 'refused' },
    { target: `/user/alice/${'../'.repeat(3000)}user/bob/`, expect: 'refused' },
    { target: `/user/alice/${'x/'.repeat(3000)}`, expect: 'alice' },
    // named servers: the longest prefix is the server, the owner decides
    { target: '/user/bob/gpu/', expect: 'refused' },
    { target: '/user/bob/gpu2/', expect: 'refused' },
    { target: '/user/alice/gpu/lab', expect: 'alice-gpu' },
    { target: '/user/alice/gpu2/lab', expect: 'alice' },
    { target: '/user/alice/gpu/../../bob/gpu/', expect: 'refused' },
    { target: '/user/alice/gpu%2F..%2F..%2Fbob%2Fgpu/', expect: 'refused' },
    // base_url /jhub/
    { target: '/jhub/user/alice/tree', expect: 'jhub-alice' },
    { target: '/jhub/user/bob/tree', expect: 'refused' },
    { target: '/jhub/user/alice/../bob/', expect: 'refused' },
    { target: '/jhub/user/alice/%2e%2e/bob/', expect: 'refused' },
    { target: '/jhub/../user/bob/', expect: 'refused' },
    { target: '/jhub/hub/../user/bob/', expect: 'refused' },
    { target: '/jhub%2Fuser%2Fbob/', expect: 'refused' },
    { target: '/jhub//user/bob/', expect: 'jhub-hub' },
    { target: '/JHUB/user/bob/', expect: 'hub' },
    { target: '/jhub/user/Bob/', expect: 'jhub-hub' },
    // websocket upgrades go through the same path handling
    { target: '/user/alice/../bob/api/kernels/k/channels', upgrade: true, expect: 'refused' },
    { target: '/user/alice%2F..%2Fbob/api/kernels/k/channels', upgrade: true, expect: 'refused' },
    { target: '/user/bob/gpu/api/kernels/k/channels', upgrade: true, expect: 'refused' },
    { target: '/user/alice/api/kernels/k/channels', upgrade: true, expect: 'alice' },
  ];

  test('as alice (hub cookie and session): refused or delivered where the path belongs, never to bob', async () => {
    for (const c of cases) await check(s, { host: H, ...c }, alice, BOBS);
    for (const b of BOBS) assert.equal(s.ups[b]!.seen.length, 0, `${b} saw ${s.ups[b]!.seen.map((x) => x.url).join(', ')}`);
  });

  test('anonymous: whatever is forwarded reaches the server its path belongs to', async () => {
    for (const c of cases) await check(s, { host: H, ...c, expect: undefined }, undefined, []);
  });

  test('raw control characters and a missing Host never reach an upstream', async () => {
    const before = Object.values(s.ups).reduce((n, u) => n + u.seen.length, 0);
    for (const bytes of [
      'GET /user/bob/\0 HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /user/alice/\t../bob/ HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /user/alice/ /../bob/ HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /user/bob/ HTTP/1.1\r\n\r\n',
    ]) {
      const r = await raw(s.guard.port, bytes.replace('\r\n\r\n', `\r\nCookie: ${alice}\r\nConnection: close\r\n\r\n`));
      assert.ok(r.statuses[0] !== undefined && r.statuses[0] >= 400 && r.statuses[0] < 500, `${JSON.stringify(bytes)}: ${r.text.slice(0, 100)}`);
    }
    assert.equal(Object.values(s.ups).reduce((n, u) => n + u.seen.length, 0), before);
    assert.ok(s.guard.alive());
  });
});

describe('Host tricks with --host-routing (subdomain_host)', () => {
  let tmp: Scratch;
  let s: Setup;
  let alice: string;

  before(async () => {
    tmp = scratch();
    const db = await makeHubDb(tmp.dir, ['alice', 'bob']);
    const secret = writeSecret(tmp.dir);
    s = await setup(tmp.dir, db, secret, [
      ['/', 'hub', { hub: true }],
      ['/alice.hub.test/user/alice', 'alice', { user: 'alice', server_name: '' }],
      ['/bob.hub.test/user/bob', 'bob', { user: 'bob', server_name: '' }],
    ], ['--host-routing']);
    const session = await (async () => {
      const r = await raw(s.guard.port, `GET /hub/home HTTP/1.1\r\nHost: hub.test\r\nCookie: ${hubCookie(secret.key, db.users.alice!.cookieId)}\r\nConnection: close\r\n\r\n`);
      const m = /\r\nSet-Cookie: (hub-guard-session=[^;\r]+)/i.exec(r.text);
      assert.ok(m, `no session minted: ${r.text.slice(0, 300)}`);
      return m[1]!;
    })();
    alice = `${hubCookie(secret.key, db.users.alice!.cookieId)}; ${session}`;
  });
  after(async () => {
    await teardown(s);
    tmp?.remove();
  });

  const cases: Case[] = [
    { target: '/user/alice/tree', host: 'alice.hub.test', expect: 'alice' },
    { target: '/user/bob/tree', host: 'bob.hub.test', expect: 'refused' },
    { target: '/user/bob/tree', host: 'bob.hub.test:8000', expect: 'refused' },
    { target: '/user/bob/tree', host: 'BOB.HUB.TEST', expect: 'refused' },
    { target: '/user/bob/tree', host: 'Bob.Hub.Test:80', expect: 'refused' },
    { target: '/user/bob/tree', host: 'bob.hub.test.', expect: 'hub' },
    { target: '/user/bob/tree', host: 'bob.hub.test:80:alice.hub.test', expect: 'refused' },
    { target: '/user/bob/tree', host: 'alice.hub.test@bob.hub.test', expect: 'refused' },
    { target: '/user/bob/tree', host: 'alice.hub.test, bob.hub.test', expect: 'refused' },
    { target: '/user/bob/tree', host: '[::1]', expect: 'hub' },
    { target: '/user/bob/tree', host: '', expect: 'hub' },
    { target: '/user/alice/../bob/tree', host: 'alice.hub.test', expect: 'hub' },
    { target: '/user/alice/tree', host: 'alice.hub.test', extra: ['X-Forwarded-Host: bob.hub.test'], expect: 'alice' },
    // absolute-form: the route and the upstream's Host come from the same header, so they cannot disagree
    { target: 'http://bob.hub.test/user/bob/tree', host: 'alice.hub.test' },
    { target: 'http://alice.hub.test/user/alice/tree', host: 'bob.hub.test' },
    { target: 'http://bob.hub.test/user/bob/tree', host: 'bob.hub.test', expect: 'refused' },
    { target: 'http://alice.hub.test/user/alice/tree', host: 'alice.hub.test', expect: 'alice' },
    // HTTP/1.0 may omit Host: no host names no user's server
    { target: '/user/bob/tree', version: '1.0', expect: 'hub' },
    { target: '/user/alice/tree', version: '1.0', expect: 'hub' },
  ];

  test('as alice: refused or delivered where Host and path belong, never to bob', async () => {
    for (const c of cases) await check(s, c, alice, ['bob']);
    assert.equal(s.ups.bob!.seen.length, 0);
  });

  test('anonymous: whatever is forwarded reaches the server its Host and path belong to', async () => {
    for (const c of cases) await check(s, { ...c, expect: undefined }, undefined, []);
  });

  // RFC 9112 section 3.2: a request with more than one Host, or a Host that is not host[:port], gets a 400. Under host
  // routing the Host is the route key, and a front proxy reading another copy (or another part) would route elsewhere.
  test('ambiguous Host headers (duplicated, or not host[:port]) are refused', async () => {
    const variants = [
      ['alice.hub.test', 'bob.hub.test'],
      ['bob.hub.test', 'alice.hub.test'],
      ['bob.hub.test:80:alice.hub.test'],
      ['alice.hub.test@bob.hub.test'],
      ['alice.hub.test, bob.hub.test'],
      ['bob.hub.test:x'],
    ];
    const answers: string[] = [];
    for (const hosts of variants) {
      const total = () => Object.values(s.ups).reduce((n, u) => n + u.seen.length, 0);
      const before = total();
      const r = await raw(s.guard.port, `GET /user/alice/tree HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}Connection: close\r\n\r\n`);
      const status = r.statuses[0] ?? 0;
      if (!(status >= 400 && status < 500 && total() === before)) answers.push(`${hosts.join(' + ')} → ${status}`);
    }
    assert.deepEqual(answers, [], `forwarded instead of refused: ${answers.join('; ')}`);
  });
});
