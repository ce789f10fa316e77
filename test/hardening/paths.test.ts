// Path and Host tricks against a real hub-guard with the guard on (hub DB, cookie secret, alice's session): every
// request is either refused before any upstream sees it, or reaches exactly the server whose route its received
// path names (checked by the independent resolver in test/helpers/path-cases.ts), and alice never reaches a server
// of bob's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { addRoute, login, startGuard, type Guard } from '../helpers/guard.js';
import { makeHubDb, type HubDbFixture } from '../helpers/hub-db.js';
import { BOBS, checkPathCase, HOST_CASES, HUB_LAYOUT, PATH_CASES, type PathSetup } from '../helpers/path-cases.js';
import { raw } from '../helpers/raw.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie, writeSecret, type Secret } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

// ---------------------------------------------------------------- the setup

interface Setup extends PathSetup {
  guard: Guard;
  ups: Record<string, Upstream>;
}

async function setup(dir: string, db: HubDbFixture, secret: Secret, routes: Array<[string, string, Record<string, unknown>]>, flags: string[] = []): Promise<Setup> {
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
  return { guard, ups, port: guard.port, servers: Object.values(ups), table, hubs, hostRouting: flags.includes('--host-routing') };
}

async function teardown(s: Setup | undefined): Promise<void> {
  if (!s) return;
  await s.guard.stop();
  for (const u of Object.values(s.ups)) await u.stop();
}

describe('path tricks with a hub at / and at /jhub, users alice and bob, named servers', () => {
  let tmp: Scratch;
  let db: HubDbFixture;
  let secret: Secret;
  let s: Setup;
  let alice: string;

  before(async () => {
    tmp = scratch();
    db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    secret = writeSecret(tmp.dir);
    s = await setup(tmp.dir, db, secret, HUB_LAYOUT);
    // a browser sends the hub cookie only under /hub/; an attacker sends everything everywhere
    alice = `${hubCookie(secret.key, db.users.get('alice')!.cookieId)}; ${await login(s.guard, secret.key, db.users.get('alice')!.cookieId)}`;
  });
  after(async () => {
    await teardown(s);
    tmp?.remove();
  });

  const H = '127.0.0.1';
  test('as alice (hub cookie and session): refused or delivered where the path belongs, never to bob', async () => {
    for (const c of PATH_CASES) await checkPathCase(s, { host: H, ...c }, `Cookie: ${alice}`, BOBS);
    for (const b of BOBS) assert.equal(s.ups[b]!.seen.length, 0, `${b} saw ${s.ups[b]!.seen.map((x) => x.url).join(', ')}`);
  });

  test('anonymous: whatever is forwarded reaches the server its path belongs to', async () => {
    for (const c of PATH_CASES) await checkPathCase(s, { host: H, ...c, expect: undefined }, undefined, []);
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
    const db = await makeHubDb({ dir: tmp.dir, users: ['alice', 'bob'] });
    const secret = writeSecret(tmp.dir);
    s = await setup(tmp.dir, db, secret, [
      ['/', 'hub', { hub: true }],
      ['/alice.hub.test/user/alice', 'alice', { user: 'alice', server_name: '' }],
      ['/bob.hub.test/user/bob', 'bob', { user: 'bob', server_name: '' }],
    ], ['--host-routing']);
    const session = await (async () => {
      const r = await raw(s.guard.port, `GET /hub/home HTTP/1.1\r\nHost: hub.test\r\nCookie: ${hubCookie(secret.key, db.users.get('alice')!.cookieId)}\r\nConnection: close\r\n\r\n`);
      const m = /\r\nSet-Cookie: (hub-guard-session=[^;\r]+)/i.exec(r.text);
      assert.ok(m, `no session minted: ${r.text.slice(0, 300)}`);
      return m[1]!;
    })();
    alice = `${hubCookie(secret.key, db.users.get('alice')!.cookieId)}; ${session}`;
  });
  after(async () => {
    await teardown(s);
    tmp?.remove();
  });

  test('as alice: refused or delivered where Host and path belong, never to bob', async () => {
    for (const c of HOST_CASES) await checkPathCase(s, c, `Cookie: ${alice}`, ['bob']);
    assert.equal(s.ups.bob!.seen.length, 0);
  });

  test('anonymous: whatever is forwarded reaches the server its Host and path belong to', async () => {
    for (const c of HOST_CASES) await checkPathCase(s, { ...c, expect: undefined }, undefined, []);
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
