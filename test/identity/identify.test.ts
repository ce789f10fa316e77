import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identify, type IdentifyDeps, type Resolved } from '../../src/identity/identify.js';
import { createSignedValue } from '../../src/identity/tornado.js';
import { Sessions } from '../../src/identity/sessions.js';
import { UsersIndex, cookieIdHash, indexKey } from '../../src/identity/users-index.js';
import { MemoryStore } from '../../src/state/store.js';
import type { HubSnapshot, HubUser } from '../../src/hubdb/snapshot.js';
import { hubCookie, type HubCookieOptions } from '../helpers/secret.js';

const secret = Buffer.alloc(32, 7);
const KEY = indexKey(secret);
const CID_A = 'a'.repeat(32);
const CID_B = 'b'.repeat(32);
const CID_SHARED = 'c'.repeat(32);

function snapshot(users: HubUser[]): HubSnapshot {
  return { takenAt: Date.now(), tables: ['users'], alembicVersion: '651f5419b74d', users, cookieIdConstraint: null, access: new Map(), groups: new Map(), apiTokens: 0 };
}
const user = (id: number, name: string, cookieId: string | null): HubUser => ({ id, name, admin: false, cookieId, created: null });

async function setup(users = [user(1, 'alice', CID_A), user(2, 'bob', CID_B)]) {
  const index = new UsersIndex(KEY);
  index.update(snapshot(users));
  const sessions = await Sessions.open(new MemoryStore(), 3600);
  const deps: IdentifyDeps = { secret, maxAgeDays: 14, users: index, sessions };
  return { index, sessions, deps };
}

/** The hub's login cookie for `cid`, signed with this file's secret, its value quoted. */
const cookie = (cid: string, opts: HubCookieOptions = {}) => hubCookie(secret, cid, { quoted: true, ...opts });

async function who(deps: IdentifyDeps, cookie: string): Promise<Resolved> {
  return await identify({ cookie }, deps);
}

test('no cookies: anonymous', async () => {
  const { deps } = await setup();
  assert.deepEqual((await who(deps, '')).identity, { kind: 'anonymous' });
});

test("the hub cookie names its user and asks for a session", async () => {
  const { deps } = await setup();
  const r = await who(deps, cookie(CID_A));
  assert.deepEqual(r.identity, { kind: 'user', name: 'alice', id: 1, source: 'hub-cookie' });
  assert.equal(r.mintFor?.name, 'alice');
});

test('empty, malformed and shared cookie_ids are problems', async () => {
  const { deps } = await setup([user(1, 'alice', CID_SHARED), user(2, 'bob', CID_SHARED), user(3, 'carol', '')]);
  assert.deepEqual((await who(deps, cookie(''))).identity, { kind: 'problem', reason: 'cookie-id-empty' });
  assert.deepEqual((await who(deps, cookie('not-a-hub-id'))).identity, { kind: 'problem', reason: 'cookie-id-malformed' });
  assert.deepEqual((await who(deps, cookie(CID_SHARED))).identity, { kind: 'problem', reason: 'cookie-id-shared' });
  assert.deepEqual((await who(deps, cookie(CID_SHARED, { name: 'jupyterhub-services' }))).identity, { kind: 'problem', reason: 'cookie-id-shared' });
});

test('a validly signed cookie_id nobody has is anonymous, flagged', async () => {
  const { deps } = await setup();
  const r = await who(deps, cookie('d'.repeat(32)));
  assert.deepEqual(r.identity, { kind: 'anonymous' });
  assert.equal(r.unknownCookieId, true);
});

test('tampered, expired, wrong-name and garbage hub cookies identify nobody', async () => {
  const { deps } = await setup();
  const good = createSignedValue(secret, 'jupyterhub-hub-login', CID_A, Math.floor(Date.now() / 1000));
  const cases = [
    `jupyterhub-hub-login="${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}"`,
    cookie(CID_A, { timestampSec: Math.floor(Date.now() / 1000) - 15 * 86400 }),
    `jupyterhub-hub-login="${createSignedValue(secret, 'other', CID_A, Math.floor(Date.now() / 1000))}"`,
    `jupyterhub-hub-login="${createSignedValue(Buffer.alloc(32, 9), 'jupyterhub-hub-login', CID_A, Math.floor(Date.now() / 1000))}"`,
    'jupyterhub-hub-login=%%%; ;;==;',
    `jupyterhub-hub-login="${'x'.repeat(100_000)}"`,
  ];
  for (const c of cases) assert.deepEqual((await who(deps, c)).identity, { kind: 'anonymous' }, c.slice(0, 80));
});

test("a session carries identity where the hub cookie is not sent (/user/…)", async () => {
  const { deps, sessions } = await setup();
  const token = await sessions.mint('alice', 1, cookieIdHash(KEY, CID_A));
  const r = await who(deps, `hub-guard-session=${token}`);
  assert.deepEqual(r.identity, { kind: 'user', name: 'alice', id: 1, source: 'session' });
  assert.equal(r.mintFor, undefined);
  // the second look is answered from the cache, synchronously
  assert.equal(identify({ cookie: `hub-guard-session=${token}` }, deps) instanceof Promise, false);
});

test('a session and a hub cookie naming different users conflict', async () => {
  const { deps, sessions } = await setup();
  const token = await sessions.mint('alice', 1, cookieIdHash(KEY, CID_A));
  const r = await who(deps, `hub-guard-session=${token}; ${cookie(CID_B)}`);
  assert.equal(r.identity.kind, 'problem');
  assert.equal(r.identity.kind === 'problem' && r.identity.reason, 'identity-conflict');
});

test("a session whose cookie_id now belongs to someone else conflicts (the outage's pattern)", async () => {
  const { deps, sessions, index } = await setup();
  const token = await sessions.mint('bob', 2, cookieIdHash(KEY, CID_B));
  // the table is rebuilt: bob's old cookie_id now sits on alice's row
  index.update(snapshot([user(1, 'alice', CID_B), user(2, 'bob', 'e'.repeat(32))]));
  const r = await who(deps, `hub-guard-session=${token}`);
  assert.deepEqual(r.identity, { kind: 'problem', reason: 'identity-conflict', name: 'bob' });
});

test('a session whose cookie_id was rotated (logout everywhere) is stale', async () => {
  const { deps, sessions, index } = await setup();
  const token = await sessions.mint('bob', 2, cookieIdHash(KEY, CID_B));
  index.update(snapshot([user(1, 'alice', CID_A), user(2, 'bob', 'f'.repeat(32))]));
  const r = await who(deps, `hub-guard-session=${token}`);
  assert.deepEqual(r.identity, { kind: 'anonymous' });
  assert.equal(r.staleSession, true);
});

test('a forged or foreign session is stale, never a user', async () => {
  const { deps } = await setup();
  const other = await Sessions.open(new MemoryStore(), 3600);
  const forged = await other.mint('alice', 1, cookieIdHash(KEY, CID_A));
  for (const t of [forged, 'a.b.c', 'garbage']) {
    const r = await who(deps, `hub-guard-session=${t}`);
    assert.deepEqual(r.identity, { kind: 'anonymous' }, t);
    assert.equal(r.staleSession, true);
  }
});

test('without a cookie secret the hub cookie is ignored', async () => {
  const { deps } = await setup();
  const r = await who({ ...deps, secret: undefined }, cookie(''));
  assert.deepEqual(r.identity, { kind: 'anonymous' });
});

test('a session past half its life is renewed while the hub cookie is present', async () => {
  const { deps } = await setup();
  const short = new Sessions(Buffer.alloc(32, 1), 3600);
  const d = { ...deps, sessions: short };
  const fresh = await short.mint('alice', 1, cookieIdHash(KEY, CID_A));
  assert.equal((await who(d, `hub-guard-session=${fresh}; ${cookie(CID_A)}`)).mintFor, undefined);
  const old = new Sessions(Buffer.alloc(32, 1), 600);
  const aging = await old.mint('alice', 1, cookieIdHash(KEY, CID_A));
  assert.equal((await who(d, `hub-guard-session=${aging}; ${cookie(CID_A)}`)).mintFor?.name, 'alice');
});
