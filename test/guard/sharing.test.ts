// JupyterHub 5.x server sharing through a real hub-guard, on a copy of the database a real JupyterHub 5.5.1 wrote
// (../shared/fixtures). Debian ships only JupyterHub 3.0, so the hub is a stand-in that answers as 5.5.1 does
// (../shared/jupyterhub-facts.md 5a.3): `POST /hub/accept-share` commits a `shares` row, then redirects to the
// owner's server at once. Shares revoked while hub-guard runs close the visitor's open websockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { eventually } from '../helpers/eventually.js';
import { addRoute, startGuard, type Guard } from '../helpers/guard.js';
import { WebSocket } from 'ws';
import { get, request } from '../helpers/http.js';
import { copySharingDb, sharingSecret } from '../helpers/jupyterhub-5.js';
import { scratch, type Scratch } from '../helpers/scratch.js';
import { hubCookie } from '../helpers/secret.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

describe('server sharing (JupyterHub 5.5.1 database, hub stand-in)', () => {
  let tmp: Scratch;
  let file: string;
  let users: Map<string, { id: number; cookieId: string }>;
  const secret = sharingSecret();
  const ups: Record<string, Upstream> = {};
  let guard: Guard;
  const sql = (text: string, ...args: unknown[]) => {
    const db = new Database(file);
    try {
      db.prepare(text).run(...args);
    } finally {
      db.close();
    }
  };
  const shareWithMallory = () => sql(`INSERT INTO shares (created_at, owner_id, spawner_id, user_id, scopes)
    SELECT '2026-12-03 00:00:00', s.user_id, s.id, (SELECT id FROM users WHERE name = 'mallory'), '["access:servers!server=alice/"]'
    FROM spawners s JOIN users o ON o.id = s.user_id WHERE o.name = 'alice' AND s.name = ''`);
  const cookieOf = (name: string) => hubCookie(secret, users.get(name)!.cookieId);
  const json = { accept: 'application/json' };

  before(async () => {
    tmp = scratch();
    let secretFile: string;
    ({ file, secretFile, users } = copySharingDb(tmp.dir));
    // mallory: a user with the default role only, to be shared with while hub-guard runs
    const cookieId = randomBytes(16).toString('hex');
    sql("INSERT INTO users (name, admin, created, cookie_id) VALUES ('mallory', 0, '2026-12-03 00:00:00', ?)", cookieId);
    sql("INSERT INTO user_role_map (user_id, role_id, managed_by_auth) SELECT u.id, r.id, 0 FROM users u, roles r WHERE u.name = 'mallory' AND r.name = 'user'");
    users = new Map([...users, ['mallory', { id: 0, cookieId }]]);
    for (const name of ['hub', 'alice']) ups[name] = await startUpstream(name);
    // accept-share as 5.5.1 does it (for mallory, the one caller here): the share is committed before the 302 leaves
    ups.hub!.handle('/hub/accept-share', (_req, res) => {
      shareWithMallory();
      res.writeHead(302, { location: '/user/alice/' });
      res.end();
    });
    // the outage's pattern: the hub sends a user into another's server with no grant behind it
    ups.hub!.handle('/hub/mixed-up', (_req, res) => {
      res.writeHead(302, { location: '/user/alice/' });
      res.end();
    });
    guard = await startGuard({ db: { file }, secret: { file: secretFile }, flags: ['--db-check-interval', '0.5'] });
    await addRoute(guard, '/', { hub: true, jupyterhub: true, target: ups.hub!.url });
    await addRoute(guard, '/user/alice', { user: 'alice', server_name: '', jupyterhub: true, target: ups.alice!.url });
  });
  after(async () => {
    await guard?.stop();
    for (const u of Object.values(ups)) await u.stop();
    tmp?.remove();
  });

  test("the fixture's grants: bob (share), carol (share code), frank (group share), dave and erin (roles) reach alice's server", async () => {
    for (const name of ['alice', 'root-admin', 'bob', 'carol', 'frank', 'dave', 'erin']) {
      const r = await get(guard.port, '/user/alice/tree', { cookie: cookieOf(name), ...json });
      assert.equal(r.status, 200, `${name}: ${r.status} ${r.text.slice(0, 200)}`);
    }
  });

  test('a share code works on the first try: the redirect right after accept-share, and the request after it', async () => {
    assert.equal((await get(guard.port, '/user/alice/tree', { cookie: cookieOf('mallory'), ...json })).status, 403, 'no share yet');
    const accepted = await request(guard.port, 'POST', '/hub/accept-share?code=x', { cookie: cookieOf('mallory'), ...json });
    assert.equal(accepted.status, 302, `${accepted.status} ${accepted.text.slice(0, 200)}`);
    assert.equal(accepted.headers.location, '/user/alice/');
    const next = await get(guard.port, '/user/alice/', { cookie: cookieOf('mallory'), ...json });
    assert.equal(next.status, 200, `${next.status} ${next.text.slice(0, 200)}`);
  });

  test("a hub redirect into another user's server with no grant is still refused (the outage's case)", async () => {
    sql("DELETE FROM shares WHERE user_id = (SELECT id FROM users WHERE name = 'mallory')");
    await eventually('the revocation is read', async () => ((await get(guard.port, '/user/alice/tree', { cookie: cookieOf('mallory'), ...json })).status === 403 ? true : undefined));
    const refused = await get(guard.port, '/hub/mixed-up', { cookie: cookieOf('mallory'), ...json });
    assert.equal(refused.status, 403);
    assert.equal(refused.json().reason, 'redirect-to-other-user');
  });

  test("a share revoked while hub-guard runs closes the visitor's open websocket", async () => {
    shareWithMallory();
    await eventually('the share is read', async () => ((await get(guard.port, '/user/alice/tree', { cookie: cookieOf('mallory'), ...json })).status === 200 ? true : undefined));
    const ws = new WebSocket(`ws://127.0.0.1:${guard.port}/user/alice/api/kernels/k/channels`, { headers: { cookie: cookieOf('mallory') } });
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    sql("DELETE FROM shares WHERE user_id = (SELECT id FROM users WHERE name = 'mallory')");
    await closed;
    assert.ok(guard.logs().some((l) => l.msg === 'websocket closed: access ended' && l.user === 'mallory'));
  });
});
